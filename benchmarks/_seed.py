"""Bulk seeding for the ticket benchmarks: people through services, tickets through bulk paths.

The small tables (staff, clients, sites, contacts) go through the service layer so they
look exactly like an install's. Tickets, their timelines and their search documents are
millions of rows, so they are written in bulk: SQLite with ``executemany`` in large
transactions (journal off, foreign keys off, secondary indexes rebuilt afterwards) and
PostgreSQL with ``COPY`` (secondary indexes, including the full-text GIN index, dropped
and rebuilt afterwards, foreign-key triggers off for the load). The rows are the ones
the services would write: the created/reply/note/status/assignment events, SLA due
times, and a search document made of the subject, the first message and every reply
(its public part) and every note (its internal part), in the same order as
``search.index_ticket`` and ``search.append_to_index``.

Text is generated from a vocabulary per category in Spanish and English, with product
names on a Zipf curve and host names and error codes drawn from large spaces, so search
terms have realistic selectivity: "vpn" matches about a tenth of the tickets, a product
name a fraction of a percent, a host name a few dozen.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

YEARS = 3
SECONDS_PER_DAY = 86_400

FIRST_NAMES_ES = [
    "Alejandro",
    "Ana",
    "Antonio",
    "Beatriz",
    "Carlos",
    "Carmen",
    "Cristina",
    "David",
    "Elena",
    "Fernando",
    "Francisco",
    "Isabel",
    "Javier",
    "Jorge",
    "José",
    "Juan",
    "Laura",
    "Lucía",
    "Luis",
    "Manuel",
    "María",
    "Marta",
    "Miguel",
    "Nuria",
    "Pablo",
    "Paula",
    "Pedro",
    "Pilar",
    "Raquel",
    "Rocío",
    "Rosa",
    "Sergio",
    "Silvia",
    "Teresa",
    "Víctor",
    "Inmaculada",
    "Montserrat",
    "Iñaki",
]
FIRST_NAMES_EN = [
    "Alice",
    "Andrew",
    "Charlotte",
    "Daniel",
    "Emily",
    "George",
    "Grace",
    "Harry",
    "Jack",
    "James",
    "Jessica",
    "Kate",
    "Liam",
    "Lucy",
    "Matthew",
    "Oliver",
    "Olivia",
    "Peter",
    "Rachel",
    "Sophie",
]
SURNAMES_ES = [
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Alonso",
    "Gutiérrez",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Ramírez",
    "Serrano",
    "Blanco",
    "Molina",
    "Morales",
    "Suárez",
    "Ortega",
    "Delgado",
    "Castro",
    "Ortiz",
    "Rubio",
    "Marín",
    "Sanz",
    "Núñez",
    "Iglesias",
    "Medina",
    "Garrido",
    "Cortés",
    "Castillo",
    "Santos",
    "Lozano",
    "Guerrero",
    "Cano",
    "Prieto",
    "Méndez",
    "Cruz",
    "Calvo",
    "Gallego",
    "Vidal",
    "León",
    "Márquez",
    "Herrera",
    "Peña",
    "Flores",
    "Cabrera",
    "Campos",
    "Vega",
    "Fuentes",
    "Carrasco",
    "Diez",
    "Caballero",
    "Reyes",
    "Nieto",
    "Aguilar",
    "Pascual",
    "Santana",
    "Herrero",
    "Montero",
    "Lorenzo",
    "Hidalgo",
    "Giménez",
    "Ibáñez",
    "Ferrer",
    "Durán",
    "Etxeberria",
    "Goikoetxea",
    "Puigdemont",
    "Casals",
]
SURNAMES_EN = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Hughes",
    "Edwards",
    "Turner",
    "Baker",
    "Harris",
    "Cooper",
    "Morgan",
    "Kelly",
    "Murphy",
    "Palmer",
]
COMPANY_WORDS = [
    "Talleres",
    "Distribuciones",
    "Clínica",
    "Gestoría",
    "Asesoría",
    "Construcciones",
    "Transportes",
    "Farmacia",
    "Óptica",
    "Bodegas",
    "Hotel",
    "Restaurante",
    "Despacho",
    "Instalaciones",
    "Inmobiliaria",
    "Academia",
    "Laboratorio",
    "Carpintería",
    "Ferretería",
    "Panadería",
    "Estudio",
    "Consultoría",
]
COMPANY_NAMES = [
    "Aurora",
    "Levante",
    "Mediterráneo",
    "Cantábrico",
    "Sierra",
    "Almendro",
    "Olivo",
    "Faro",
    "Puerto",
    "Robledo",
    "Alcázar",
    "Ebro",
    "Duero",
    "Tajo",
    "Miramar",
    "Montes",
    "Valle",
    "Norte",
    "Sur",
    "Iberia",
    "Atlántico",
    "Castilla",
    "Girasol",
    "Horizonte",
    "Nogal",
    "Encina",
    "Brisa",
    "Roca",
    "Lirio",
]
CITIES = [
    "Madrid",
    "Barcelona",
    "Valencia",
    "Sevilla",
    "Bilbao",
    "Málaga",
    "Zaragoza",
    "Murcia",
    "Alicante",
    "Valladolid",
    "Vigo",
    "Gijón",
    "Granada",
    "Pamplona",
    "Santander",
    "Córdoba",
]

# Products per category slug, most mentioned first: drawn on a Zipf curve, so the tail
# of each list is a "rare word" of realistic selectivity.
PRODUCTS = {
    "remote-access": [
        "forticlient",
        "anyconnect",
        "globalprotect",
        "wireguard",
        "openvpn",
        "sonicwall",
        "pulsesecure",
        "zerotier",
        "tailscale",
        "softether",
    ],
    "security": [
        "defender",
        "sophos",
        "eset",
        "bitdefender",
        "malwarebytes",
        "crowdstrike",
        "kaspersky",
        "sentinelone",
        "trendmicro",
        "panda",
    ],
    "email": [
        "outlook",
        "exchange",
        "gmail",
        "thunderbird",
        "office365",
        "roundcube",
        "zimbra",
        "postfix",
        "mailchimp",
        "protonmail",
    ],
    "hardware": [
        "thinkpad",
        "latitude",
        "elitebook",
        "macbook",
        "surface",
        "optiplex",
        "logitech",
        "wacom",
        "samsung",
        "synaptics",
    ],
    "software": [
        "teams",
        "sage",
        "autocad",
        "acrobat",
        "chrome",
        "sharepoint",
        "onedrive",
        "holded",
        "contaplus",
        "quickbooks",
        "a3asesor",
        "solidworks",
    ],
    "network": [
        "mikrotik",
        "unifi",
        "meraki",
        "fortigate",
        "tplink",
        "aruba",
        "netgear",
        "draytek",
        "pfsense",
        "ruckus",
    ],
    "accounts": [
        "authenticator",
        "entra",
        "okta",
        "keepass",
        "bitwarden",
        "lastpass",
        "duo",
        "yubikey",
    ],
    "printing": [
        "kyocera",
        "brother",
        "ricoh",
        "canon",
        "epson",
        "xerox",
        "konica",
        "lexmark",
        "oki",
        "sharp",
    ],
    "backup": [
        "veeam",
        "synology",
        "acronis",
        "qnap",
        "backblaze",
        "duplicati",
        "arcserve",
        "nakivo",
    ],
    "other": ["teléfono", "centralita", "móvil", "tablet", "proyector", "webcam", "altavoces"],
}

# Category weights over the whole history, and in the surge of the last weeks
# (remote work: VPN and security flood the help desk).
CATEGORY_WEIGHTS = {
    "remote-access": 10,
    "security": 8,
    "email": 16,
    "hardware": 12,
    "software": 16,
    "network": 9,
    "accounts": 10,
    "printing": 9,
    "backup": 5,
    "other": 5,
}
SURGE_WEIGHTS = {**CATEGORY_WEIGHTS, "remote-access": 40, "security": 25, "accounts": 16}
SURGE_DAYS = 28

SUBJECTS = {
    "remote-access": {
        "en": [
            "VPN not connecting from home",
            "Cannot connect to the VPN with {product}",
            "Remote desktop to {host} fails",
            "VPN drops every few minutes",
            "Need VPN access for {person}",
            "Very slow file server over the VPN",
            "{product} asks for credentials again and again",
        ],
        "es": [
            "La VPN no conecta desde casa",
            "No puedo conectar a la VPN con {product}",
            "Falla el escritorio remoto a {host}",
            "La VPN se corta cada pocos minutos",
            "Necesito acceso VPN para {person}",
            "El servidor de ficheros va muy lento por la VPN",
            "{product} pide la contraseña una y otra vez",
        ],
    },
    "security": {
        "en": [
            "Suspicious e-mail asking for my password",
            "{product} detected a threat on {host}",
            "Possible phishing link clicked",
            "Antivirus expired on {host}",
            "Strange pop-ups on my computer",
            "Unknown device on the office network",
        ],
        "es": [
            "Correo sospechoso que pide mi contraseña",
            "{product} ha detectado una amenaza en {host}",
            "He pinchado en un posible enlace de phishing",
            "Antivirus caducado en {host}",
            "Ventanas raras en mi ordenador",
            "Dispositivo desconocido en la red de la oficina",
        ],
    },
    "email": {
        "en": [
            "{product} does not receive mail",
            "Mailbox full",
            "Cannot send e-mail from {product}",
            "Shared mailbox not showing",
            "Calendar invitations not arriving",
            "Mail stuck in the outbox",
        ],
        "es": [
            "{product} no recibe correo",
            "Buzón lleno",
            "No puedo enviar correo desde {product}",
            "No aparece el buzón compartido",
            "No llegan las invitaciones del calendario",
            "Correos atascados en la bandeja de salida",
        ],
    },
    "hardware": {
        "en": [
            "Laptop {product} does not start",
            "Screen flickering on {host}",
            "Keyboard not working",
            "New computer for {person}",
            "Battery drains very fast",
            "Docking station not detected",
        ],
        "es": [
            "El portátil {product} no arranca",
            "La pantalla parpadea en {host}",
            "No funciona el teclado",
            "Ordenador nuevo para {person}",
            "La batería se agota muy rápido",
            "No detecta la base de conexión",
        ],
    },
    "software": {
        "en": [
            "{product} crashes when opening files",
            "Install {product} on {host}",
            "License expired for {product}",
            "{product} is very slow",
            "Update failed with error {code}",
            "Cannot open attachments",
        ],
        "es": [
            "{product} se cierra al abrir ficheros",
            "Instalar {product} en {host}",
            "Licencia caducada de {product}",
            "{product} va muy lento",
            "La actualización falla con el error {code}",
            "No puedo abrir los adjuntos",
        ],
    },
    "network": {
        "en": [
            "No internet at the {city} office",
            "Wi-Fi keeps disconnecting",
            "{product} router down",
            "Network very slow since this morning",
            "Cannot reach the shared drive",
            "Switch port not working",
        ],
        "es": [
            "Sin internet en la oficina de {city}",
            "El wifi se desconecta continuamente",
            "Router {product} caído",
            "La red va muy lenta desde esta mañana",
            "No accedo a la unidad compartida",
            "No funciona una boca del switch",
        ],
    },
    "accounts": {
        "en": [
            "Password reset for {person}",
            "Account locked out",
            "New employee starting Monday: {person}",
            "MFA not working with {product}",
            "Remove access for {person}",
            "Cannot sign in to Office 365",
        ],
        "es": [
            "Restablecer contraseña de {person}",
            "Cuenta bloqueada",
            "Alta de empleado nuevo el lunes: {person}",
            "El doble factor no funciona con {product}",
            "Baja de accesos de {person}",
            "No puedo iniciar sesión en Office 365",
        ],
    },
    "printing": {
        "en": [
            "Printer {product} not printing",
            "Paper jam on the {product}",
            "Scanner does not send to e-mail",
            "Toner low on the second floor printer",
            "Cannot add the printer on {host}",
        ],
        "es": [
            "La impresora {product} no imprime",
            "Atasco de papel en la {product}",
            "El escáner no envía al correo",
            "Queda poco tóner en la impresora de la segunda planta",
            "No puedo añadir la impresora en {host}",
        ],
    },
    "backup": {
        "en": [
            "Backup job failed on {product}",
            "Restore a deleted folder",
            "Backup disk almost full",
            "{product} backup warning",
            "Nightly backup did not run",
        ],
        "es": [
            "Falló la copia de seguridad en {product}",
            "Recuperar una carpeta borrada",
            "Disco de copias casi lleno",
            "Aviso de la copia de {product}",
            "No se hizo la copia de esta noche",
        ],
    },
    "other": {
        "en": [
            "Question about the invoice",
            "Phone {product} not ringing",
            "Move desk to another room",
            "Projector in the meeting room",
            "General question",
        ],
        "es": [
            "Duda sobre la factura",
            "El {product} no suena",
            "Cambiar un puesto de sala",
            "Proyector de la sala de reuniones",
            "Consulta general",
        ],
    },
}

OPENINGS = {
    "en": [
        "Hello, {problem}.",
        "Hi team, since this morning {problem}.",
        "Good morning, {problem}.",
        "{problem}. It is quite urgent, we cannot work.",
        "Hi, {problem}. It happened yesterday too.",
    ],
    "es": [
        "Hola, {problem}.",
        "Buenos días, desde esta mañana {problem}.",
        "Hola equipo, {problem}.",
        "{problem}. Es bastante urgente, no podemos trabajar.",
        "Hola, {problem}. Ayer también pasó.",
    ],
}
DETAILS = {
    "en": [
        "The error says {code}.",
        "It happens on {host} and on the laptop of {person}.",
        "We restarted the computer but it did not help.",
        "Other colleagues at the {city} office have the same problem.",
        "I attach a screenshot of the message.",
        "It started after the last update of {product}.",
        "Can someone call me at the office?",
        "We need it working before the meeting at ten.",
    ],
    "es": [
        "El error dice {code}.",
        "Pasa en {host} y en el portátil de {person}.",
        "Hemos reiniciado el ordenador pero sigue igual.",
        "A otros compañeros de la oficina de {city} les pasa lo mismo.",
        "Adjunto una captura del mensaje.",
        "Empezó después de la última actualización de {product}.",
        "¿Me puede llamar alguien a la oficina?",
        "Lo necesitamos funcionando antes de la reunión de las diez.",
    ],
}
SIGNATURES = {
    "en": ["Thanks, {contact}", "Regards, {contact}", "{contact}"],
    "es": ["Gracias, {contact}", "Un saludo, {contact}", "{contact}"],
}
TECH_REPLIES = {
    "en": [
        "Hello {first}, thanks for letting us know; we are looking into it.",
        "Could you restart the computer and try again, please?",
        "I have connected remotely to {host} and checked the configuration.",
        "We have updated {product} to the latest version; please try again.",
        "Please confirm whether the problem is still there.",
        "It is fixed now: the cause was a wrong setting in {product}.",
        "We are escalating this to the vendor and will keep you posted.",
        "I will come to the {city} office tomorrow morning to look at it.",
        "The certificate had expired; it has been renewed.",
        "Your password has been reset; you will be asked to change it at the next sign-in.",
    ],
    "es": [
        "Hola {first}, gracias por avisar; lo estamos revisando.",
        "¿Puede reiniciar el equipo y volver a probar, por favor?",
        "Me he conectado en remoto a {host} y he revisado la configuración.",
        "Hemos actualizado {product} a la última versión; pruebe de nuevo, por favor.",
        "Por favor, confirme si el problema continúa.",
        "Ya está solucionado: la causa era una configuración incorrecta de {product}.",
        "Lo escalamos al fabricante y le mantenemos informado.",
        "Mañana por la mañana me paso por la oficina de {city} para verlo.",
        "El certificado había caducado; ya está renovado.",
        "Hemos restablecido su contraseña; se le pedirá cambiarla al iniciar sesión.",
    ],
}
CONTACT_REPLIES = {
    "en": [
        "Thanks, it works now.",
        "It still fails with the same error {code}.",
        "I tried again and nothing changed.",
        "Yes, please come tomorrow.",
        "Now it works on {host} but not on the other computer.",
        "Thank you very much for the quick help!",
    ],
    "es": [
        "Gracias, ya funciona.",
        "Sigue fallando con el mismo error {code}.",
        "He vuelto a probar y sigue igual.",
        "Sí, por favor, vengan mañana.",
        "Ahora funciona en {host} pero no en el otro ordenador.",
        "¡Muchas gracias por la ayuda tan rápida!",
    ],
}
NOTES = {
    "en": [
        "Checked the event log on {host}: error {code}.",
        "Called the user, no answer; will try later.",
        "Vendor case opened for {product}, waiting for their reply.",
        "Known issue with {product}, see the workaround in the wiki.",
        "Replaced the cable; monitoring for a day.",
        "Reset MFA for {person}.",
        "Probably related to the firewall rule changed last week.",
    ],
    "es": [
        "Revisado el visor de eventos de {host}: error {code}.",
        "Llamado al usuario, no contesta; reintentar luego.",
        "Abierto caso con el fabricante de {product}, esperando respuesta.",
        "Incidencia conocida de {product}, ver solución en la wiki.",
        "Cambiado el cable; lo vigilamos un día.",
        "Reiniciado el doble factor de {person}.",
        "Seguramente relacionado con la regla del cortafuegos cambiada la semana pasada.",
    ],
}
PROBLEMS = {  # the lower-cased subject works as the problem sentence
    "en": "{subject}",
    "es": "{subject}",
}

PRIORITIES = (["normal"] * 60) + (["low"] * 15) + (["high"] * 20) + (["urgent"] * 5)
SLA_MINUTES = {"urgent": (30, 240), "high": (60, 480), "normal": (240, 1620), "low": (540, 5400)}


def _zipf_weights(n: int, s: float = 1.3) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


@dataclass
class People:
    """Ids and names of what tickets refer to, loaded after the small tables are seeded."""

    technicians: list[tuple[int, str]]  # (user id, username)
    clients: list[dict[str, Any]]  # id, language, sites [ids], contacts [(id, name)]
    categories: dict[str, int]  # slug -> id
    queues: list[int]


@dataclass
class Generator:
    """Makes ticket rows, event rows and search documents with realistic text and times."""

    people: People
    now: float
    rng: random.Random = field(default_factory=lambda: random.Random(20260101))

    def __post_init__(self) -> None:
        self.cat_slugs = list(CATEGORY_WEIGHTS)
        self.cat_cum = _cumulative([CATEGORY_WEIGHTS[s] for s in self.cat_slugs])
        self.surge_cum = _cumulative([SURGE_WEIGHTS[s] for s in self.cat_slugs])
        self.product_cum = {
            slug: _cumulative(_zipf_weights(len(items))) for slug, items in PRODUCTS.items()
        }
        self.start = self.now - YEARS * 365 * SECONDS_PER_DAY
        # Ticket volume grows over time (the MSP gains clients): density ∝ 1 + 2t.
        self.client_cum = _cumulative([1 + (i % 7) for i in range(len(self.people.clients))])

    def _pick(self, items: list[Any], cum: list[float]) -> Any:
        import bisect

        return items[bisect.bisect_left(cum, self.rng.random() * cum[-1])]

    def _created_at(self, index: int, total: int) -> float:
        # Tickets are generated in creation order; volume grows linearly so the inverse
        # of the cumulative density (t + t²)/2 spreads them. Jitter breaks ties.
        u = (index + self.rng.random()) / total
        t = (-1 + (1 + 8 * u) ** 0.5) / 2  # solves (t + t^2)/2 = u for t in [0, 1]
        return self.start + t * (self.now - self.start)

    def _fill(self, template: str, ctx: dict[str, str]) -> str:
        return template.format_map(ctx)

    def ticket(
        self, ticket_id: int, number: int, index: int, total: int
    ) -> tuple[tuple, list[tuple], str]:
        rng = self.rng
        created = self._created_at(index, total)
        age_days = (self.now - created) / SECONDS_PER_DAY
        slug = self._pick(self.cat_slugs, self.surge_cum if age_days < SURGE_DAYS else self.cat_cum)
        client = self._pick(self.people.clients, self.client_cum)
        lang = (
            client["language"]
            if rng.random() < 0.9
            else ("en" if client["language"] == "es" else "es")
        )
        contact_id, contact_name = rng.choice(client["contacts"])
        first = contact_name.split()[0]
        other = rng.choice(client["contacts"])[1]
        product = self._pick(PRODUCTS[slug], self.product_cum[slug])
        ctx = {
            "product": product,
            "host": f"PC{rng.randrange(10000):04d}",
            "person": other,
            "first": first,
            "contact": contact_name,
            "city": rng.choice(CITIES),
            "code": f"0x8007{rng.randrange(65536):04X}",
        }
        subject = self._fill(rng.choice(SUBJECTS[slug][lang]), ctx)
        ctx["subject"] = subject[0].lower() + subject[1:]
        opening = self._fill(rng.choice(OPENINGS[lang]), {"problem": ctx["subject"]})
        opening = opening[0].upper() + opening[1:]
        details = " ".join(
            self._fill(d, ctx) for d in rng.sample(DETAILS[lang], rng.choice((0, 1, 1, 2)))
        )
        body = f"{opening} {details}\n\n{self._fill(rng.choice(SIGNATURES[lang]), ctx)}".replace(
            "  ", " "
        )

        status = self._status(age_days)
        priority = rng.choice(PRIORITIES)
        techs = self.people.technicians
        tech_id, tech_name = rng.choice(techs)
        assignee = None if status == "new" else tech_id
        by_phone = rng.random() < 0.6
        site_id = rng.choice(client["sites"]) if rng.random() < 0.8 else None

        events: list[tuple] = []
        t = created
        doc = [f"{subject}\n{body}"]
        notes: list[str] = []

        def event(
            kind: str,
            when: float,
            *,
            actor: int | None = None,
            contact: int | None = None,
            text: str = "",
            public: bool = False,
            data: dict[str, Any] | None = None,
        ) -> None:
            events.append(
                (ticket_id, kind, when, actor, contact, text, public, json.dumps(data or {}))
            )

        event(
            "created",
            t,
            actor=tech_id if by_phone else None,
            contact=None if by_phone else contact_id,
            text=body,
            public=True,
            data={"subject": subject},
        )
        if assignee and rng.random() < 0.4:
            t = self._later(t, 600)
            event("assignment", t, actor=tech_id, data={"changes": {"assignee": [None, tech_name]}})
        first_response = None
        replies = (
            rng.choices((1, 2, 3, 4), weights=(30, 40, 20, 10))[0]
            if status != "new"
            else rng.randrange(2)
        )
        for i in range(replies):
            t = self._later(t, 4 * 3600 if i == 0 else 20 * 3600)
            roll = rng.random()
            if status != "new" and (i == 0 or roll < 0.45):
                text = self._fill(rng.choice(TECH_REPLIES[lang]), ctx)
                event("reply", t, actor=tech_id, text=text, public=True)
                first_response = first_response or t
            elif roll < 0.75:
                text = self._fill(rng.choice(CONTACT_REPLIES[lang]), ctx)
                event("reply", t, contact=contact_id, text=text, public=True)
            else:
                text = self._fill(rng.choice(NOTES[lang]), ctx)
                event("note", t, actor=tech_id, text=text)
                notes.append(text)
                continue
            doc.append(text)
        resolved_at = closed_at = paused_at = None
        if status in ("waiting_client", "waiting_third_party"):
            t = self._later(t, 3600)
            event(
                "status",
                t,
                actor=tech_id,
                public=True,
                data={"changes": {"status": ["open", status]}},
            )
            paused_at = t if status == "waiting_client" else None
        elif status in ("resolved", "closed"):
            t = self._later(t, 8 * 3600)
            resolved_at = t
            if status == "closed" and rng.random() < 0.5:
                event(
                    "status",
                    t,
                    actor=tech_id,
                    public=True,
                    data={"changes": {"status": ["open", "closed"]}},
                )
                closed_at = t
            else:
                event(
                    "status",
                    t,
                    actor=tech_id,
                    public=True,
                    data={"changes": {"status": ["open", "resolved"]}},
                )
                if status == "closed":
                    t = self._later(t, 3 * SECONDS_PER_DAY)
                    event(
                        "status",
                        t,
                        actor=None,
                        public=True,
                        data={"changes": {"status": ["resolved", "closed"]}},
                    )
                    closed_at = t
        first_minutes, resolution_minutes = SLA_MINUTES[priority]
        # Business minutes stretched to wall time (nights and weekends): about ×3.
        row = (
            ticket_id,
            number,
            client["id"],
            site_id,
            contact_id,
            rng.choice(self.people.queues),
            self.people.categories[slug],
            subject,
            priority,
            status,
            assignee,
            created,
            t,
            created + first_minutes * 180,
            created + resolution_minutes * 180,
            first_response,
            resolved_at,
            closed_at,
            paused_at,
            0,
            None,
        )
        return row, events, ("\n".join(doc), "\n".join(notes))

    def _later(self, t: float, mean_seconds: float) -> float:
        return min(
            t + self.rng.expovariate(1 / mean_seconds) + 60, self.now - self.rng.random() * 60
        )

    def _status(self, age_days: float) -> str:
        r = self.rng.random()
        if age_days > 30:
            table = (
                ("closed", 0.85),
                ("resolved", 0.97),
                ("open", 0.985),
                ("waiting_third_party", 0.993),
                ("waiting_client", 1.0),
            )
        elif age_days > 7:
            table = (
                ("closed", 0.5),
                ("resolved", 0.75),
                ("open", 0.85),
                ("waiting_client", 0.93),
                ("waiting_third_party", 0.97),
                ("new", 1.0),
            )
        else:
            table = (
                ("new", 0.2),
                ("open", 0.6),
                ("waiting_client", 0.75),
                ("waiting_third_party", 0.8),
                ("resolved", 0.95),
                ("closed", 1.0),
            )
        for status, upto in table:
            if r < upto:
                return status
        return "closed"


def _cumulative(weights: list[float]) -> list[float]:
    total = 0.0
    out = []
    for w in weights:
        total += w
        out.append(total)
    return out


TICKET_COLUMNS = (
    "id",
    "number",
    "client_id",
    "site_id",
    "contact_id",
    "queue_id",
    "category_id",
    "subject",
    "priority",
    "status",
    "assignee_id",
    "created_at",
    "updated_at",
    "first_response_due_at",
    "resolution_due_at",
    "first_responded_at",
    "resolved_at",
    "closed_at",
    "sla_paused_at",
    "sla_paused_minutes",
    "merged_into_id",
)
TICKET_TIME_COLUMNS = (11, 12, 13, 14, 15, 16, 17, 18)
EVENT_COLUMNS = (
    "id",
    "ticket_id",
    "kind",
    "created_at",
    "actor_id",
    "actor_contact_id",
    "body",
    "is_public",
    "data",
)
DOC_COLUMNS = ("ticket_id", "body", "internal")


def check_columns() -> None:
    """Fail early if the models no longer have the columns the bulk rows are laid out for."""
    from atalaya.tickets.models import SearchDocument, Ticket, TicketEvent

    for model, columns in (
        (Ticket, TICKET_COLUMNS),
        (TicketEvent, EVENT_COLUMNS),
        (SearchDocument, DOC_COLUMNS),
    ):
        actual = {f.column for f in model._meta.concrete_fields}
        if actual != set(columns):
            raise SystemExit(
                f"{model.__name__} columns changed: model has {sorted(actual)}, "
                f"seed writes {columns}"
            )


def seed_people(n_clients: int, n_technicians: int, rng: random.Random) -> None:
    """Staff, clients, sites and contacts, through the services like any install's."""
    from atalaya.core import services

    services.create_staff_user(
        actor=None, username="admin", password="bench-admin-pw", role="admin", first_name="Admin"
    )
    for i in range(1, n_technicians + 1):
        services.create_staff_user(
            actor=None,
            username=f"tecnico{i}",
            password="bench-tech-pw",
            role="technician",
            first_name=rng.choice(FIRST_NAMES_ES),
            last_name=rng.choice(SURNAMES_ES),
            language=rng.choice(("es", "es", "en")),
        )
    used: set[str] = set()
    for i in range(n_clients):
        while True:
            name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_NAMES)} {rng.choice(CITIES)}"
            if name not in used:
                used.add(name)
                break
        lang = "es" if rng.random() < 0.75 else "en"
        client = services.create_client(
            actor=None, name=f"{name} S.L.", language=lang, mail_domains=[f"cliente{i}.example"]
        )
        sites = [
            services.add_site(actor=None, client=client, name=f"Oficina {city}")
            for city in rng.sample(CITIES, rng.randint(1, 4))
        ]
        for j in range(rng.randint(6, 14)):
            firsts, lasts = (
                (FIRST_NAMES_ES, SURNAMES_ES) if lang == "es" else (FIRST_NAMES_EN, SURNAMES_EN)
            )
            person = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            services.create_contact(
                actor=None,
                clients=[client],
                name=person,
                email=f"c{j}@cliente{i}.example",
                site=rng.choice(sites),
                language=lang,
            )


def load_people() -> People:
    from atalaya.core.models import Client, ContactMembership, Site, User
    from atalaya.tickets.models import Category, Queue

    technicians = list(
        User.objects.filter(role="technician").order_by("id").values_list("id", "username")
    )
    sites: dict[int, list[int]] = {}
    for site_id, client_id in Site.objects.values_list("id", "client_id"):
        sites.setdefault(client_id, []).append(site_id)
    contacts: dict[int, list[tuple[int, str]]] = {}
    for contact_id, name, client_id in ContactMembership.objects.values_list(
        "contact_id", "contact__name", "client_id"
    ):
        contacts.setdefault(client_id, []).append((contact_id, name))
    clients = [
        {"id": cid, "language": lang, "sites": sites[cid], "contacts": contacts[cid]}
        for cid, lang in Client.objects.order_by("id").values_list("id", "language")
    ]
    return People(
        technicians=technicians,
        clients=clients,
        categories=dict(Category.objects.values_list("slug", "id")),
        queues=list(Queue.objects.values_list("id", flat=True)),
    )


def generate(
    people: People, total: int, batch: int, first_id: int, first_number: int, now: float
) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
    """Batches of (ticket rows, event rows, document rows), times as epoch seconds."""
    gen = Generator(people, now)
    event_id = 1
    for start in range(0, total, batch):
        tickets, events, docs = [], [], []
        for i in range(start, min(total, start + batch)):
            tid = first_id + i
            row, evs, doc = gen.ticket(tid, first_number + i, i, total)
            tickets.append(row)
            for ev in evs:
                events.append((event_id, *ev))
                event_id += 1
            docs.append((tid, *doc))
        yield tickets, events, docs


def _fmt_sqlite(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _fmt_pg(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _convert(
    tickets: list[tuple],
    events: list[tuple],
    fmt: Callable[[float | None], str | None],
    true: Any,
    false: Any,
) -> tuple[list[tuple], list[tuple]]:
    trows = []
    for row in tickets:
        r = list(row)
        for i in TICKET_TIME_COLUMNS:
            r[i] = fmt(r[i])
        trows.append(tuple(r))
    erows = [
        (e[0], e[1], e[2], fmt(e[3]), e[4], e[5], e[6], true if e[7] else false, e[8])
        for e in events
    ]
    return trows, erows


def _secondary_indexes_sqlite(cursor: Any, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    marks = ",".join("?" * len(tables))
    cursor.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        tables,
    )
    return list(cursor.fetchall())


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def bulk_sqlite(
    connection: Any, people: People, total: int, now: float, log: Callable[[str], None]
) -> None:
    """executemany in transactions of ~100k tickets; indexes rebuilt at the end."""
    from atalaya.tickets.models import SearchDocument, Ticket, TicketEvent

    raw = connection.connection
    cur = raw.cursor()
    tables = (Ticket._meta.db_table, TicketEvent._meta.db_table)
    # A dedicated, re-creatable database: durability during the load buys nothing.
    cur.execute("PRAGMA foreign_keys=OFF")
    cur.execute("PRAGMA journal_mode=OFF")
    cur.execute("PRAGMA synchronous=OFF")
    cur.execute("PRAGMA cache_size=-1000000")
    cur.execute("PRAGMA temp_store=MEMORY")
    indexes = _secondary_indexes_sqlite(cur, tables)
    for name, _sql in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    first_id = (cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {tables[0]}").fetchone()[0]) + 1
    first_number = (
        cur.execute("SELECT value FROM tickets_counter WHERE name='ticket'").fetchone()[0] + 1
    )
    ins_t = _insert_sql(tables[0], TICKET_COLUMNS)
    ins_e = _insert_sql(tables[1], EVENT_COLUMNS)
    ins_d = _insert_sql(SearchDocument._meta.db_table, DOC_COLUMNS)
    started = time.perf_counter()
    done = 0
    cur.execute("BEGIN")
    for tickets, events, docs in generate(people, total, 10_000, first_id, first_number, now):
        trows, erows = _convert(tickets, events, _fmt_sqlite, 1, 0)
        cur.executemany(ins_t, trows)
        cur.executemany(ins_e, erows)
        cur.executemany(ins_d, docs)  # the FTS5 triggers index each document
        done += len(tickets)
        if done % 100_000 == 0 or done == total:
            cur.execute("COMMIT")
            log(f"seeded {done} tickets in {time.perf_counter() - started:.0f} s")
            cur.execute("BEGIN")
    cur.execute(
        "UPDATE tickets_counter SET value = ? WHERE name = 'ticket'", (first_number + total - 1,)
    )
    cur.execute("COMMIT")
    log("rebuilding indexes")
    for _name, sql in indexes:
        cur.execute(sql)
    log("merging the full-text index")
    cur.execute("INSERT INTO tickets_search_fts(tickets_search_fts) VALUES ('optimize')")
    # No ANALYZE: Django never runs it, so an install's planner works without
    # sqlite_stat1, and the list's plans are chosen (and measured) that way.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    log(f"sqlite seeding done in {time.perf_counter() - started:.0f} s")


def bulk_postgresql(
    connection: Any, people: People, total: int, now: float, log: Callable[[str], None]
) -> None:
    """COPY in one transaction; secondary indexes (the GIN one too) dropped and rebuilt."""
    from atalaya.tickets.models import SearchDocument, Ticket, TicketEvent

    tables = (Ticket._meta.db_table, TicketEvent._meta.db_table, SearchDocument._meta.db_table)
    started = time.perf_counter()
    with connection.cursor() as django_cursor:
        cur = django_cursor.cursor  # the psycopg cursor, for COPY
        cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.tablename = ANY(%s) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (list(tables),),
        )
        indexes = cur.fetchall()
        cur.execute("SET session_replication_role = replica")  # no FK triggers during the load
        cur.execute("SET maintenance_work_mem = '512MB'")
        for name, _sql in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {tables[0]}")
        first_id = cur.fetchone()[0]
        cur.execute("SELECT value + 1 FROM tickets_counter WHERE name = 'ticket'")
        first_number = cur.fetchone()[0]
        done = 0
        for tickets, events, docs in generate(people, total, 10_000, first_id, first_number, now):
            trows, erows = _convert(tickets, events, _fmt_pg, "t", "f")
            with cur.copy(f"COPY {tables[0]} ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
                for row in trows:
                    copy.write_row(row)
            with cur.copy(f"COPY {tables[1]} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for row in erows:
                    copy.write_row(row)
            with cur.copy(f"COPY {tables[2]} ({', '.join(DOC_COLUMNS)}) FROM STDIN") as copy:
                for row in docs:
                    copy.write_row(row)
            done += len(tickets)
            if done % 100_000 == 0 or done == total:
                log(f"seeded {done} tickets in {time.perf_counter() - started:.0f} s")
        cur.execute(
            "UPDATE tickets_counter SET value = %s WHERE name = 'ticket'",
            (first_number + total - 1,),
        )
        for table, column in ((tables[0], "id"), (tables[1], "id")):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"(SELECT MAX({column}) FROM {table}))"
            )
        cur.execute("SET session_replication_role = DEFAULT")
        log("rebuilding indexes")
        for name, sql in indexes:
            t0 = time.perf_counter()
            cur.execute(sql)
            log(f"  {name} in {time.perf_counter() - t0:.0f} s")
    log(f"postgresql seeding done in {time.perf_counter() - started:.0f} s")


def timestamp_now() -> float:
    return time.time()


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
