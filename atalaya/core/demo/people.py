"""Who is in the demo: the MSP's staff, its twelve client companies and their people.

Mail domains use the reserved ``.example`` top-level domain (RFC 2606), so no demo
address can ever reach a real mailbox. Names are invented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

DEMO_PASSWORD = "demo"
ADMIN_PASSWORD = "admin"


@dataclass(frozen=True)
class StaffSpec:
    """One member of the MSP's team."""

    username: str
    password: str
    role: str
    first_name: str
    last_name: str
    language: str
    # Categories this person mostly handles; the plan assigns by these.
    specialties: tuple[str, ...] = ()


STAFF = [
    StaffSpec("admin", ADMIN_PASSWORD, "admin", "Carmen", "Vidal", "es"),
    StaffSpec(
        "tecnico1",
        DEMO_PASSWORD,
        "technician",
        "Lucía",
        "Romero",
        "es",
        ("remote-access", "network"),
    ),
    StaffSpec(
        "tecnico2",
        DEMO_PASSWORD,
        "technician",
        "Javier",
        "Ortega",
        "es",
        ("security", "email", "accounts"),
    ),
    StaffSpec(
        "tecnico3",
        DEMO_PASSWORD,
        "technician",
        "Daniel",
        "Walsh",
        "en",
        ("hardware", "software", "printing", "backup", "other"),
    ),
]
STAFF_MAIL_DOMAIN = "atalaya-msp.example"


@dataclass(frozen=True)
class ClientSpec:
    """A client company: language, calendar, mail domain, sites and how many people."""

    key: str
    name: str
    legal_name: str
    language: str
    domain: str
    sites: tuple[tuple[str, str], ...]
    contacts: int
    time_zone: str = "Europe/Madrid"
    working_days: str = "12345"
    starts: time = time(9, 0)
    ends: time = time(18, 0)
    # Relative share of the ticket volume (bigger offices call more).
    weight: float = 1.0
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


CLIENTS = [
    ClientSpec(
        "montero",
        "Asesoría Montero",
        "Montero Asesores Fiscales, S.L.",
        "es",
        "montero-asesores.example",
        (
            ("Oficina central", "Calle de Alcalá 120, 28009 Madrid"),
            ("Delegación Alcalá", "Calle Mayor 41, 28801 Alcalá de Henares"),
        ),
        6,
        weight=1.4,
        notes="Cierre trimestral de impuestos: máxima prioridad en abril, julio, octubre y enero.",
    ),
    ClientSpec(
        "sonrisa",
        "Clínica Dental Sonrisa",
        "Clínica Dental Sonrisa, S.L.P.",
        "es",
        "clinicasonrisa.example",
        (
            ("Clínica Ruzafa", "Carrer de Sueca 18, 46006 València"),
            ("Clínica Campanar", "Avinguda de Campanar 52, 46015 València"),
        ),
        5,
        starts=time(9, 0),
        ends=time(20, 0),
        weight=1.1,
    ),
    ClientSpec(
        "ruiz",
        "Transportes Hermanos Ruiz",
        "Transportes Hermanos Ruiz, S.A.",
        "es",
        "transportesruiz.example",
        (
            ("Nave Zaragoza", "Polígono Plaza, Calle Tarento 8, 50197 Zaragoza"),
            ("Almacén Huesca", "Polígono Sepes, Calle Río Cinca 3, 22006 Huesca"),
            ("Oficina Teruel", "Avenida de Sagunto 30, 44002 Teruel"),
        ),
        7,
        working_days="123456",
        starts=time(8, 0),
        ends=time(18, 0),
        weight=1.5,
    ),
    ClientSpec(
        "vinaalta",
        "Bodegas Viña Alta",
        "Bodegas Viña Alta, S.L.",
        "es",
        "vinaalta.example",
        (
            ("Bodega", "Carretera de Fuenmayor km 2, 26006 Logroño"),
            ("Tienda Logroño", "Calle del Laurel 9, 26001 Logroño"),
        ),
        4,
        weight=0.8,
    ),
    ClientSpec(
        "lopez",
        "Ferretería Industrial López",
        "Suministros Industriales López, S.L.",
        "es",
        "ferreterialopez.example",
        (("Tienda y almacén", "Avenida de la Innovación 14, 41020 Sevilla"),),
        4,
        starts=time(8, 0),
        ends=time(15, 0),
        weight=0.7,
    ),
    ClientSpec(
        "castellpuig",
        "Castell & Puig Advocats",
        "Castell i Puig Advocats, S.L.P.",
        "es",
        "castellpuig.example",
        (
            ("Despatx Eixample", "Carrer de Balmes 88, 08008 Barcelona"),
            ("Despatx Girona", "Carrer Nou 12, 17001 Girona"),
        ),
        6,
        weight=1.2,
    ),
    ClientSpec(
        "costabrava",
        "Inmobiliaria Costa Brava",
        "Inmobiliaria Costa Brava, S.L.",
        "es",
        "inmocostabrava.example",
        (("Oficina Lloret", "Avinguda Just Marlès 25, 17310 Lloret de Mar"),),
        3,
        working_days="123456",
        starts=time(10, 0),
        ends=time(19, 0),
        weight=0.6,
    ),
    ClientSpec(
        "palmeras",
        "Hotel Las Palmeras",
        "Hoteles Las Palmeras Canarias, S.L.",
        "es",
        "hotellaspalmeras.example",
        (
            ("Hotel", "Avenida de Tirajana 20, 35100 San Bartolomé de Tirajana"),
            ("Oficinas centrales", "Calle Triana 60, 35002 Las Palmas de Gran Canaria"),
        ),
        5,
        time_zone="Atlantic/Canary",
        working_days="1234567",
        starts=time(8, 0),
        ends=time(20, 0),
        weight=1.0,
    ),
    ClientSpec(
        "brightwater",
        "Brightwater International School",
        "Brightwater Education, S.L.",
        "en",
        "brightwater.example",
        (
            ("Main campus", "Urbanización El Rosario, 29604 Marbella"),
            ("Junior campus", "Calle Ramón Gómez de la Serna 5, 29602 Marbella"),
        ),
        7,
        starts=time(8, 0),
        ends=time(17, 0),
        weight=1.4,
    ),
    ClientSpec(
        "sunshine",
        "Sunshine Coast Properties",
        "Sunshine Coast Properties, S.L.",
        "en",
        "sunshinecoast.example",
        (("Sales office", "Paseo Marítimo 8, 29640 Fuengirola"),),
        3,
        weight=0.6,
    ),
    ClientSpec(
        "harbourfinch",
        "Harbour & Finch Consulting",
        "Harbour and Finch Iberia, S.L.",
        "en",
        "harbourfinch.example",
        (("Madrid office", "Paseo de la Castellana 95, 28046 Madrid"),),
        5,
        weight=0.9,
    ),
    ClientSpec(
        "greenleaf",
        "Greenleaf Architects",
        "Greenleaf Architects Barcelona, S.L.P.",
        "en",
        "greenleaf.example",
        (
            ("Studio", "Carrer de Pujades 77, 08005 Barcelona"),
            ("Site office Sant Cugat", "Avinguda de Cerdanyola 30, 08172 Sant Cugat"),
        ),
        5,
        weight=0.9,
    ),
]

ES_FIRST = [
    "María",
    "Carmen",
    "Ana",
    "Laura",
    "Isabel",
    "Marta",
    "Lucía",
    "Elena",
    "Pilar",
    "Rosa",
    "Cristina",
    "Paula",
    "Antonio",
    "José",
    "Manuel",
    "Francisco",
    "David",
    "Javier",
    "Daniel",
    "Carlos",
    "Miguel",
    "Alejandro",
    "Pablo",
    "Sergio",
    "Jorge",
    "Alberto",
    "Raúl",
    "Fernando",
    "Nuria",
    "Montserrat",
    "Jordi",
    "Àlex",
]
ES_LAST = [
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
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Serrano",
    "Molina",
    "Castro",
    "Ortiz",
    "Rubio",
    "Sanz",
    "Puig",
    "Ferrer",
]
EN_FIRST = [
    "Emma",
    "Olivia",
    "Sophie",
    "Charlotte",
    "Grace",
    "Hannah",
    "Lucy",
    "Amelia",
    "James",
    "Oliver",
    "Thomas",
    "Jack",
    "Harry",
    "George",
    "William",
    "Samuel",
    "Michael",
    "Rachel",
    "Peter",
    "Claire",
]
EN_LAST = [
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
    "Clarke",
    "Hughes",
]
# The share of a client's people who speak the client's other language (expats in
# Spanish firms, local staff in English-speaking ones).
OTHER_LANGUAGE_SHARE = {"es": 0.12, "en": 0.3}
# Contacts shared by two clients: an external accountant or an owner of two businesses.
SHARED_CONTACTS = [
    ("montero", "vinaalta"),
    ("castellpuig", "costabrava"),
    ("brightwater", "sunshine"),
    ("ruiz", "lopez"),
]
