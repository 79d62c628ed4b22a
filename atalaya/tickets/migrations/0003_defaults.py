"""What a fresh install needs to take tickets: queues, categories, work types, SLA targets."""

from __future__ import annotations

from django.db import migrations

QUEUES = [("Help desk", "helpdesk"), ("Projects", "projects"), ("Monitoring", "monitoring")]
CATEGORIES = [
    ("Remote access / VPN", "Acceso remoto / VPN", "remote-access"),
    ("Security", "Seguridad", "security"),
    ("E-mail", "Correo", "email"),
    ("Hardware", "Hardware", "hardware"),
    ("Software", "Software", "software"),
    ("Network", "Red", "network"),
    ("Accounts and access", "Cuentas y accesos", "accounts"),
    ("Printing", "Impresión", "printing"),
    ("Backup", "Copias de seguridad", "backup"),
    ("Other", "Otros", "other"),
]
WORK_TYPES = [("Remote support", "remote"), ("On-site", "onsite"), ("Project work", "project")]
# Business minutes: first response, resolution.
SLA = {"urgent": (30, 4 * 60), "high": (60, 8 * 60), "normal": (4 * 60, 3 * 9 * 60), "low": (9 * 60, 10 * 9 * 60)}


def forward(apps, schema_editor):
    Queue = apps.get_model("tickets", "Queue")
    Category = apps.get_model("tickets", "Category")
    WorkType = apps.get_model("tickets", "WorkType")
    SlaPolicy = apps.get_model("tickets", "SlaPolicy")
    Counter = apps.get_model("tickets", "Counter")
    for name, slug in QUEUES:
        Queue.objects.get_or_create(slug=slug, defaults={"name": name})
    for name, name_es, slug in CATEGORIES:
        Category.objects.get_or_create(slug=slug, defaults={"name": name, "name_es": name_es})
    for name, slug in WORK_TYPES:
        WorkType.objects.get_or_create(slug=slug, defaults={"name": name})
    for priority, (first, resolution) in SLA.items():
        SlaPolicy.objects.get_or_create(
            priority=priority, defaults={"first_response_minutes": first, "resolution_minutes": resolution}
        )
    Counter.objects.get_or_create(name="ticket", defaults={"value": 1000})


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_search_index")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
