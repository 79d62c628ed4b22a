# Phone numbers in E.164 (issue 7, call logging): a technician's extension, the
# reversed-digits search key of contacts, and the existing numbers normalised.

from django.db import migrations, models


def normalise_phones(apps, schema_editor):
    """Rewrite clients' and contacts' numbers as E.164 and fill the search key.

    A number that cannot be read is kept exactly as typed (nothing a person wrote is
    lost); the form asks for a valid one the next time it is edited.
    """
    from atalaya.core.phones import region_for_zone, reversed_digits, try_e164

    Client = apps.get_model("core", "Client")
    Contact = apps.get_model("core", "Contact")
    for client in Client.objects.exclude(phone="").only("pk", "phone", "time_zone"):
        e164 = try_e164(client.phone, region_for_zone(client.time_zone))
        if e164 and e164 != client.phone:
            Client.objects.filter(pk=client.pk).update(phone=e164)
    for contact in Contact.objects.exclude(phone="").only("pk", "phone", "time_zone"):
        value = try_e164(contact.phone, region_for_zone(contact.time_zone)) or contact.phone
        Contact.objects.filter(pk=contact.pk).update(
            phone=value, phone_digits_rev=reversed_digits(value)
        )


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_user_is_remote_operator'),
    ]

    operations = [
        migrations.AddField(
            model_name='contact',
            name='phone_digits_rev',
            field=models.CharField(blank=True, db_index=True, default='', max_length=24),
        ),
        migrations.AddField(
            model_name='user',
            name='phone_extension',
            field=models.CharField(blank=True, db_index=True, default='', max_length=20),
        ),
        migrations.AlterField(
            model_name='contact',
            name='phone',
            field=models.CharField(blank=True, db_index=True, default='', max_length=40),
        ),
        migrations.RunPython(normalise_phones, migrations.RunPython.noop),
    ]
