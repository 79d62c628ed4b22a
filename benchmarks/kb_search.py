"""Knowledge base search at 10,000 articles: ``search_articles`` and the portal's search page.

Seeds a dedicated database with ``--articles`` articles (default 10,000) in Spanish and
English — how-tos about VPN clients, mail, backups, antivirus, printers and the like,
product names on a Zipf curve so words have realistic selectivity — 5% drafts and 10%
shared with chosen clients only, across 20 clients. Then, signed in as a client's
portal user, it times ``search_articles`` directly and the portal page
``/portal/kb/?q=…`` through Django's test client (routing, middleware, session, view,
template), over common, rare, Spanish, two-word, prefix and empty-result queries.
Prints ``RESULT kb_search_p95_ms=… ms`` (the page; target ≤ 50) and the direct figures.

The database follows ``ATALAYA_DATABASE_URL``: PostgreSQL gets its own database
``bench_kb_<N>`` on that server (created here); otherwise SQLite a file under
``var/bench/``. ``--reuse`` keeps one already seeded with the same N.

    .venv/bin/python benchmarks/kb_search.py
    ATALAYA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/kb_search.py --reuse

Other benchmarks call ``measure(articles=10000)``: it runs this script in a child
process (its own database, its own Django) and returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SEED_MARKER = "bench_kb_seeded"
CLIENTS = 20
BATCH = 500

# --- vocabulary -------------------------------------------------------------------------

# topic: (products, English titles, Spanish titles, English sentences, Spanish sentences)
TOPICS: dict[str, tuple[list[str], list[str], list[str], list[str], list[str]]] = {
    "vpn": (
        ["forticlient", "anyconnect", "globalprotect", "wireguard", "openvpn", "sonicwall",
         "tailscale", "zerotier", "softether", "pulsesecure"],
        ["Setting up {p} on {os}", "VPN with {p} drops every few minutes",
         "Connecting to the office through {p}", "{p}: the tunnel does not start"],
        ["Configurar {p} en {os}", "La VPN con {p} se corta cada pocos minutos",
         "Conectarse a la oficina con {p}", "{p}: el túnel no arranca"],
        ["Open {p} and import the profile we sent you.", "The VPN needs a working internet "
         "connection first.", "If the tunnel drops, try another network such as a mobile "
         "hotspot.", "Shared folders appear once the VPN is connected.",
         "Hotel wifi often blocks VPN traffic."],
        ["Abra {p} e importe el perfil que le enviamos.", "La VPN necesita primero una "
         "conexión a internet.", "Si el túnel se corta, pruebe otra red como los datos del "
         "móvil.", "Las carpetas compartidas aparecen cuando la VPN está conectada.",
         "La wifi de los hoteles suele bloquear la VPN."],
    ),
    "mail": (
        ["outlook", "exchange", "gmail", "thunderbird", "office365", "roundcube", "zimbra",
         "protonmail"],
        ["Adding your mailbox to {p} on {os}", "{p} keeps asking for the password",
         "Shared calendars in {p}", "Out-of-office replies in {p}"],
        ["Añadir su buzón a {p} en {os}", "{p} pide la contraseña una y otra vez",
         "Calendarios compartidos en {p}", "Respuestas automáticas de ausencia en {p}"],
        ["Open {p}, go to the account settings and add your work address.",
         "Mail that does not arrive may be in the junk folder.", "Large attachments are "
         "better shared as a link.", "Your mailbox quota is shown in the account page."],
        ["Abra {p}, vaya a la configuración de la cuenta y añada su dirección de trabajo.",
         "El correo que no llega puede estar en la carpeta de spam.", "Los adjuntos grandes "
         "es mejor compartirlos como enlace.", "La cuota del buzón aparece en la página de "
         "la cuenta."],
    ),
    "security": (
        ["defender", "sophos", "eset", "bitdefender", "malwarebytes", "crowdstrike",
         "sentinelone", "kaspersky"],
        ["{p} found a threat: what to do", "Recognising phishing mails", "Enrolling in MFA "
         "with {p}", "Why {p} blocked a download"],
        ["{p} ha detectado una amenaza: qué hacer", "Reconocer correos de phishing",
         "Activar MFA con {p}", "Por qué {p} ha bloqueado una descarga"],
        ["Never approve a sign-in you did not start.", "Check the sender's address before "
         "you click a link.", "{p} quarantines suspicious files automatically.",
         "Forward suspicious mail to the phishing mailbox.", "Change your password at once "
         "if you typed it on a strange page."],
        ["Nunca apruebe un inicio de sesión que no haya hecho usted.", "Compruebe la "
         "dirección del remitente antes de pulsar un enlace.", "{p} pone en cuarentena los "
         "archivos sospechosos automáticamente.", "Reenvíe el correo sospechoso al buzón de "
         "phishing.", "Cambie la contraseña enseguida si la escribió en una página rara."],
    ),
    "backup": (
        ["onedrive", "veeam", "acronis", "synology", "backblaze", "dropbox", "nextcloud"],
        ["Backing up your laptop with {p}", "Restoring a deleted file from {p}",
         "Checking that {p} copied last night"],
        ["Copia de seguridad del portátil con {p}", "Recuperar un archivo borrado de {p}",
         "Comprobar que {p} copió anoche"],
        ["Leave the laptop on and plugged in at night so {p} can copy it.", "Files in the "
         "synced folder show a green tick.", "A USB disk must be kept apart from the "
         "laptop.", "Restores of whole folders are done by the help desk."],
        ["Deje el portátil encendido y enchufado por la noche para que {p} lo copie.",
         "Los archivos de la carpeta sincronizada muestran una marca verde.", "El disco "
         "USB debe guardarse separado del portátil.", "La restauración de carpetas enteras "
         "la hace el soporte."],
    ),
    "printer": (
        ["laserjet", "officejet", "brother", "kyocera", "ricoh", "canon", "epson", "xerox"],
        ["Adding the {p} printer on {os}", "The {p} prints blank pages",
         "Scanning to mail with the {p}"],
        ["Añadir la impresora {p} en {os}", "La {p} imprime páginas en blanco",
         "Escanear al correo con la {p}"],
        ["Printers at home are added from the system settings.", "A paper jam is cleared "
         "from the back tray.", "Scanned documents arrive as PDF in your mailbox.",
         "The {p} driver is installed automatically."],
        ["Las impresoras de casa se añaden desde la configuración del sistema.", "Un atasco "
         "de papel se quita por la bandeja trasera.", "Los documentos escaneados llegan en "
         "PDF a su buzón.", "El controlador de la {p} se instala automáticamente."],
    ),
    "devices": (
        ["thinkpad", "latitude", "elitebook", "macbook", "surface", "ipad", "android",
         "iphone"],
        ["Reporting a lost {p}", "Locking the screen of your {p}",
         "Updating your {p} safely", "Encrypting the disk of your {p}"],
        ["Avisar de un {p} perdido", "Bloquear la pantalla de su {p}",
         "Actualizar su {p} con seguridad", "Cifrar el disco de su {p}"],
        ["Call us at once if a device is lost or stolen.", "We can lock or wipe the device "
         "remotely.", "Restart when the system asks to install updates.", "BitLocker and "
         "FileVault encrypt the whole disk."],
        ["Llámenos enseguida si pierde o le roban un equipo.", "Podemos bloquear o borrar el "
         "equipo a distancia.", "Reinicie cuando el sistema pida instalar actualizaciones.",
         "BitLocker y FileVault cifran el disco entero."],
    ),
}  # fmt: skip
SYSTEMS = ["Windows 11", "Windows 10", "macOS", "Ubuntu", "Android", "iOS"]
GENERIC = {
    "en": [
        "If this does not help, open a ticket from the portal.",
        "Working from home is safe when the basics are right.",
        "Keep your work files in the shared folders.",
        "Our help desk answers during business hours.",
        "Take a screenshot of any error message.",
    ],
    "es": [
        "Si esto no ayuda, abra un ticket desde el portal.",
        "Teletrabajar es seguro si lo básico está bien hecho.",
        "Guarde los archivos de trabajo en las carpetas compartidas.",
        "Nuestro soporte atiende en horario laboral.",
        "Haga una captura de cualquier mensaje de error.",
    ],
}
# The queries timed: (label, words).
QUERIES = [
    ("common", "vpn"),
    ("common_es", "contraseña"),
    ("english", "printer"),
    ("spanish", "impresora"),
    ("rare_product", "softether"),
    ("two_words", "outlook calendar"),
    ("two_words_es", "copia portátil"),
    ("prefix", "wiregu"),
    ("title", "phishing"),
    ("none", "zzyzxq"),
]


def log(message: str) -> None:
    print(f"# {message}", flush=True)


def result(name: str, value: float, unit: str) -> None:
    print(f"RESULT {name}={value:.1f} {unit}", flush=True)


# --- the database ---------------------------------------------------------------------


def configure_database(n: int, fresh: bool) -> str:
    """The bench database of this size (see _bench_db.py)."""
    import _bench_db

    return _bench_db.configure_database(pg_name=f"bench_kb_{n}", sqlite_name=f"kb_{n}", fresh=fresh)


def seeded_count() -> int | None:
    from atalaya.tickets.models import Counter

    try:
        return Counter.objects.filter(name=SEED_MARKER).values_list("value", flat=True).first()
    except Exception:  # noqa: BLE001 - no tables yet
        return None


def _zipf(n: int, s: float = 1.2) -> list[float]:
    return [1 / (k**s) for k in range(1, n + 1)]


def _text(rng: random.Random, topic: str, product: str, language: str) -> tuple[str, str]:
    """A title and a Markdown body of one article in one language."""
    _products, titles_en, titles_es, lines_en, lines_es = TOPICS[topic]
    titles, lines = (titles_es, lines_es) if language == "es" else (titles_en, lines_en)
    os_name = rng.choice(SYSTEMS)
    title = rng.choice(titles).format(p=product, os=os_name)
    paragraphs = []
    for _ in range(rng.randint(3, 7)):
        picked = rng.choices(lines, k=rng.randint(2, 4)) + rng.choices(GENERIC[language], k=1)
        paragraphs.append(" ".join(line.format(p=product) for line in picked))
    steps = "\n".join(
        f"{i}. {rng.choice(lines).format(p=product)}" for i in range(1, rng.randint(3, 6))
    )
    return title, "\n\n".join([paragraphs[0], steps, *paragraphs[1:]])


def seed(n: int) -> None:
    """People through the services, then ``n`` articles in bulk (the FTS triggers and the
    generated tsvector column index them as they land)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from atalaya.core import services as core_services
    from atalaya.kb.models import Article, ArticleStatus, Category, Tag, Visibility
    from atalaya.kb.rendering import render_markdown
    from atalaya.tickets.models import Counter

    started = time.perf_counter()
    rng = random.Random(17)
    with transaction.atomic():
        admin = core_services.create_staff_user(
            actor=None, username="kb-admin", password="bench-password-123", role="admin"
        )
        clients = []
        for i in range(CLIENTS):
            client = core_services.create_client(
                actor=None, name=f"KB Client {i:02d}", mail_domains=[f"kbc{i}.example"]
            )
            contact = core_services.create_contact(
                actor=None, clients=[client], name=f"Reader {i}", email=f"ana@kbc{i}.example"
            )
            core_services.create_portal_user(
                actor=None, contact=contact, username=f"reader{i}", password="bench-password-123"
            )
            clients.append(client)
        shelves = {
            topic: Category.objects.create(slug=topic, name_en=topic.title(), name_es=topic)
            for topic in TOPICS
        }
        tags = {
            product: Tag.objects.create(slug=product, name=product)
            for products, *_rest in TOPICS.values()
            for product in products
        }
    log(f"people seeded in {time.perf_counter() - started:.1f} s")
    now = timezone.now()
    topics = list(TOPICS)
    made = 0
    for start in range(0, n, BATCH):
        rows, tag_links, share = [], [], []
        for i in range(start, min(n, start + BATCH)):
            topic = rng.choice(topics)
            products = TOPICS[topic][0]
            product = rng.choices(products, weights=_zipf(len(products)))[0]
            which = rng.random()
            languages = ["en", "es"] if which < 0.6 else (["es"] if which < 0.85 else ["en"])
            texts = {"title_en": "", "title_es": "", "body_en": "", "body_es": ""}
            for language in languages:
                title, body = _text(rng, topic, product, language)
                texts[f"title_{language}"], texts[f"body_{language}"] = title, body
            shared = rng.random() < 0.10
            at = now - (n - i) * timezone.timedelta(minutes=7)
            rows.append(
                Article(
                    **texts,
                    body_html_en=render_markdown(texts["body_en"]),
                    body_html_es=render_markdown(texts["body_es"]),
                    category=shelves[topic],
                    status=ArticleStatus.DRAFT if rng.random() < 0.05 else ArticleStatus.PUBLISHED,
                    visibility=Visibility.CLIENTS if shared else Visibility.PUBLIC,
                    created_by=admin,
                    updated_by=admin,
                    created_at=at,
                    updated_at=at,
                    published_at=at,
                )
            )
            tag_links.append([tags[product]])
            share.append(rng.sample(clients, rng.randint(1, 3)) if shared else [])
        with transaction.atomic():
            created = Article.objects.bulk_create(rows)
            if connection.vendor == "sqlite" or not all(a.pk for a in created):
                # SQLite before RETURNING support hands back no ids: read them back.
                created = list(Article.objects.order_by("-id")[: len(rows)])[::-1]
            Article.tags.through.objects.bulk_create(
                Article.tags.through(article_id=a.pk, tag_id=t.pk)
                for a, ts in zip(created, tag_links, strict=True)
                for t in ts
            )
            Article.clients.through.objects.bulk_create(
                Article.clients.through(article_id=a.pk, client_id=c.pk)
                for a, cs in zip(created, share, strict=True)
                for c in cs
            )
        made += len(rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE kb_article")
            cursor.execute("VACUUM ANALYZE kb_article_clients")
    Counter.objects.update_or_create(name=SEED_MARKER, defaults={"value": n})
    log(f"seeded {made} articles in {time.perf_counter() - started:.0f} s")


# --- measuring --------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def timed(fn: Callable[[], Any], repeat: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def run(repeat: int, warmup: int) -> dict[str, float]:
    """Time the searches as a portal user of a client that has articles of its own."""
    from django.db import connection
    from django.test import Client as HttpClient
    from django.urls import reverse

    from atalaya.core.models import User
    from atalaya.kb.models import Article
    from atalaya.kb.search import search_articles

    reader = User.objects.get(username="reader3")
    visible = Article.objects.visible_to(reader).count()
    log(f"{connection.vendor}: reader3 may read {visible} of {Article.objects.count()} articles")
    http = HttpClient()
    http.force_login(reader)
    base = reverse("portal:kb_list")
    direct: list[float] = []
    page: list[float] = []
    for label, words in QUERIES:
        hits = len(search_articles(reader, words, limit=25))

        def page_once(words: str = words) -> None:
            response = http.get(f"{base}?{urlencode({'q': words})}")
            if response.status_code != 200:
                raise SystemExit(f"portal search answered {response.status_code}")

        d = timed(lambda words=words: search_articles(reader, words, limit=25), repeat, warmup)
        p = timed(page_once, repeat, warmup)
        direct += d
        page += p
        log(
            f"{label:13s} {words!r:22s} {hits:3d} hits: function p95 "
            f"{percentile(d, 95):5.1f} ms, page p95 {percentile(p, 95):5.1f} ms"
        )
    suggest = reverse("portal:kb_suggest")
    s = timed(
        lambda: http.get(f"{suggest}?{urlencode({'subject': 'my vpn keeps dropping at home'})}"),
        repeat,
        warmup,
    )
    return {
        "kb_search_p95_ms": percentile(page, 95),
        "kb_search_p50_ms": percentile(page, 50),
        "kb_search_direct_p95_ms": percentile(direct, 95),
        "kb_suggest_p95_ms": percentile(s, 95),
    }


def measure(articles: int = 10_000, *, reuse: bool = True) -> dict[str, float]:
    """The knowledge base figures at ``articles`` articles, for another benchmark.

    Runs this script in a child process, so its database and its Django settings stay
    apart from the caller's (same ATALAYA_DATABASE_URL server, its own database).
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--articles", str(articles), "--json"]
    if reuse:
        command.append("--reuse")
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("JSON "))
    return {k: float(v) for k, v in json.loads(line[5:]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep a database seeded alike")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()

    url = configure_database(args.articles, fresh=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    log(f"database {connection.vendor} {url.rsplit('/', 1)[-1]}")
    have = seeded_count() if args.reuse else None
    if have != args.articles:
        if args.reuse:
            log(f"no reusable seed of {args.articles} articles (found {have}); seeding afresh")
        connection.close()
        configure_database(args.articles, fresh=True)
        call_command("migrate", verbosity=0)
        seed(args.articles)
    else:
        call_command("migrate", verbosity=0)
    figures = run(args.repeat, args.warmup)
    for name, value in figures.items():
        result(name, value, "ms")
    if args.json:
        print("JSON " + json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
