"""The demo as a plan: who exists and every step of every ticket's life, in pure Python.

Building the plan touches no database, so the same seed and the same ``now`` always give
the same plan (tests compare two builds), and the loader only has to replay it through
the service functions. Ticket lives are simulated on each client's business calendar
with the SLA targets of the install: technicians answer within working hours, answer
later when the help desk is flooded, pause on the client, wait on vendors, and close.
"""

from __future__ import annotations

import random
import unicodedata
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from atalaya.core.demo import texts
from atalaya.core.demo.people import (
    CLIENTS,
    EN_FIRST,
    EN_LAST,
    ES_FIRST,
    ES_LAST,
    OTHER_LANGUAGE_SHARE,
    SHARED_CONTACTS,
    STAFF,
    ClientSpec,
)
from atalaya.core.holidays import spanish_national_holidays
from atalaya.tickets import sla

DEFAULT_SEED = 2020
DEFAULT_TICKETS = 2000
HISTORY_DAYS = 90
# The home-working surge began this many days ago and took a few days to build up.
SURGE_START_DAYS = 25
SURGE_RAMP_DAYS = 5
# A phishing campaign on top of the surge, this many days ago.
PHISHING_WAVE_DAYS = (14, 8)

CATEGORY_WEIGHTS = {
    "remote-access": 0.07,
    "security": 0.06,
    "email": 0.16,
    "hardware": 0.13,
    "software": 0.17,
    "network": 0.09,
    "accounts": 0.12,
    "printing": 0.09,
    "backup": 0.05,
    "other": 0.06,
}
# How much each category grows at the height of the surge.
SURGE_GROWTH = {
    "remote-access": 5.0,
    "security": 4.0,
    "accounts": 2.0,
    "hardware": 1.6,
    "email": 1.4,
    "network": 1.5,
}
PRIORITY_WEIGHTS = {
    "security": {"low": 0.05, "normal": 0.35, "high": 0.4, "urgent": 0.2},
    "remote-access": {"low": 0.05, "normal": 0.5, "high": 0.35, "urgent": 0.1},
    "network": {"low": 0.05, "normal": 0.45, "high": 0.3, "urgent": 0.2},
    "backup": {"low": 0.1, "normal": 0.5, "high": 0.35, "urgent": 0.05},
    "printing": {"low": 0.4, "normal": 0.5, "high": 0.1, "urgent": 0.0},
    "other": {"low": 0.55, "normal": 0.4, "high": 0.05, "urgent": 0.0},
}
DEFAULT_PRIORITY_WEIGHTS = {"low": 0.2, "normal": 0.6, "high": 0.17, "urgent": 0.03}
ONSITE_CATEGORIES = {"hardware", "printing", "network"}
THIRD_PARTY_CATEGORIES = {"hardware", "network", "printing", "software"}
# Working hours of the day, weighted: mornings are busiest.
HOUR_WEIGHTS = {
    7: 0.2,
    8: 0.9,
    9: 1.6,
    10: 1.7,
    11: 1.5,
    12: 1.3,
    13: 0.9,
    14: 0.7,
    15: 1.0,
    16: 1.0,
    17: 0.8,
    18: 0.5,
    19: 0.3,
}
WEEKDAY_FACTOR = {1: 1.25, 2: 1.05, 3: 1.0, 4: 1.0, 5: 0.85, 6: 0.15, 7: 0.08}


@dataclass
class ClientPlan:
    spec: ClientSpec
    holidays: list[tuple[date, str]]
    created_at: datetime
    portal_contact: str = ""

    @property
    def calendar(self) -> sla.BusinessCalendar:
        return sla.BusinessCalendar(
            tz=zoneinfo.ZoneInfo(self.spec.time_zone),
            weekdays=frozenset(int(d) for d in self.spec.working_days),
            starts=self.spec.starts,
            ends=self.spec.ends,
            holidays=frozenset(day for day, _name in self.holidays),
        )


@dataclass
class ContactPlan:
    key: str
    name: str
    first: str
    email: str
    language: str
    time_zone: str
    clients: list[str]
    site: str | None
    created_at: datetime
    portal_username: str = ""


@dataclass
class TicketPlan:
    key: int
    client: str
    site: str | None
    contact: str
    category: str
    queue: str | None
    subject: str
    body: str
    priority: str
    created_at: datetime
    creator: str
    assignee: str | None


@dataclass
class Step:
    """One thing that happens to one ticket at one moment, replayed by a service call.

    kinds: create, assign, fields, reply, note, status, priority, time, merge, link,
    autoclose. ``value`` is the new status, priority, assignee, queue, the minutes of a
    time entry, or the other ticket's key for merges and links.
    """

    at: datetime
    ticket: int
    kind: str
    actor: str
    body: str = ""
    value: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoPlan:
    seed: int
    now: datetime
    clients: list[ClientPlan]
    contacts: list[ContactPlan]
    tickets: list[TicketPlan]
    steps: list[Step]


def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def surge_level(days_ago: float) -> float:
    """0 before the home-working surge, rising to 1 over its first days."""
    return min(max((SURGE_START_DAYS - days_ago) / SURGE_RAMP_DAYS, 0.0), 1.0)


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    import math

    return rng.lognormvariate(math.log(median), sigma)


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class _Planner:
    def __init__(
        self,
        seed: int,
        now: datetime,
        tickets: int,
        targets: dict[str, tuple[int, int]],
        autoclose_days: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.now = now
        self.ticket_count = tickets
        self.targets = targets
        self.autoclose_days = autoclose_days
        self.clients: dict[str, ClientPlan] = {}
        self.contacts: dict[str, ContactPlan] = {}
        self.members: dict[str, list[str]] = {}
        self.tickets: list[TicketPlan] = []
        self.steps: list[Step] = []
        self.staff = {s.username: s for s in STAFF}
        # Who works each ticket, so merges and links are done by the right person.
        self._owner: dict[int, str] = {}

    # People -------------------------------------------------------------------------
    def people(self) -> None:
        rng = self.rng
        used_names: set[str] = set()
        start = self.now - timedelta(days=HISTORY_DAYS + 200)
        years = range(self.now.year - 1, self.now.year + 2)
        for spec in CLIENTS:
            holidays = [h for y in years for h in spanish_national_holidays(y)]
            created = start + timedelta(days=rng.randint(0, 150), hours=rng.randint(0, 8))
            self.clients[spec.key] = ClientPlan(spec, holidays, created)
            self.members[spec.key] = []
            for n in range(spec.contacts):
                other = rng.random() < OTHER_LANGUAGE_SHARE[spec.language]
                language = ("en" if spec.language == "es" else "es") if other else spec.language
                spanish = language == "es"
                first_names, last_names = (ES_FIRST, ES_LAST) if spanish else (EN_FIRST, EN_LAST)
                while True:
                    first = rng.choice(first_names)
                    name = f"{first} {rng.choice(last_names)}"
                    if language == "es":
                        name += f" {rng.choice(ES_LAST)}"
                    if name not in used_names:
                        used_names.add(name)
                        break
                last = name.split()[1]
                key = f"{spec.key}-{n}"
                self.contacts[key] = ContactPlan(
                    key=key,
                    name=name,
                    first=first,
                    email=f"{ascii_slug(first)}.{ascii_slug(last)}@{spec.domain}",
                    language=language,
                    time_zone=spec.time_zone,
                    clients=[spec.key],
                    site=rng.choice(spec.sites)[0],
                    created_at=created + timedelta(days=rng.randint(0, 30)),
                )
                self.members[spec.key].append(key)
            # The first person (the office manager) holds the client's portal login.
            portal = self.contacts[f"{spec.key}-0"]
            portal.portal_username = f"portal@{spec.domain}"
            self.clients[spec.key].portal_contact = portal.key
        for home, second in SHARED_CONTACTS:
            # The last person of the first client also works for the second.
            key = self.members[home][-1]
            self.contacts[key].clients.append(second)
            self.members[second].append(key)

    # Tickets ------------------------------------------------------------------------
    def _day_weights(self) -> list[tuple[int, str, float]]:
        madrid = zoneinfo.ZoneInfo("Europe/Madrid")
        today = self.now.astimezone(madrid).date()
        holidays = {d for d, _n in spanish_national_holidays(today.year)}
        holidays |= {d for d, _n in spanish_national_holidays(today.year - 1)}
        cells = []
        for days_ago in range(HISTORY_DAYS):
            day = today - timedelta(days=days_ago)
            factor = 0.15 if day in holidays else WEEKDAY_FACTOR[day.isoweekday()]
            level = surge_level(days_ago)
            for category, weight in CATEGORY_WEIGHTS.items():
                growth = 1 + (SURGE_GROWTH.get(category, 1.0) - 1) * level
                wave = PHISHING_WAVE_DAYS[1] <= days_ago <= PHISHING_WAVE_DAYS[0]
                if category == "security" and wave:
                    growth *= 1.6
                cells.append((days_ago, category, factor * weight * growth))
        return cells

    def _moment(self, client: ClientPlan, days_ago: int) -> datetime | None:
        tz = zoneinfo.ZoneInfo(client.spec.time_zone)
        day = self.now.astimezone(tz).date() - timedelta(days=days_ago)
        hour = _weighted(self.rng, HOUR_WEIGHTS)
        clock = time(hour, self.rng.randrange(60), self.rng.randrange(60))
        local = datetime.combine(day, clock, tz)
        moment = local.astimezone(zoneinfo.ZoneInfo("UTC"))
        return moment if moment < self.now - timedelta(minutes=3) else None

    def _pick_client(self, days_ago: int) -> ClientPlan:
        weights = {key: c.spec.weight for key, c in self.clients.items()}
        for _attempt in range(6):
            client = self.clients[_weighted(self.rng, weights)]
            day = self.now.date() - timedelta(days=days_ago)
            cal = client.calendar
            if day.isoweekday() in cal.weekdays and day not in cal.holidays:
                return client
            if self.rng.random() < 0.15:
                return client
        return client

    def _scenario(self, category: str, level: float) -> texts.Scenario:
        options = texts.SCENARIOS[category]
        weights = [(0.25 + 4 * level) if s.surge else 1.0 for s in options]
        return self.rng.choices(options, weights=weights)[0]

    def _technician(self, category: str) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return "admin"
        experts = [s.username for s in STAFF if category in s.specialties]
        if experts and rng.random() < 0.75:
            return rng.choice(experts)
        return rng.choice([s.username for s in STAFF if s.role == "technician"])

    def _fill(self, text: str, client: ClientPlan, contact: ContactPlan, site: str | None) -> str:
        device = f"PC-{client.spec.key[:4].upper()}-{self.rng.randint(1, 40):02d}"
        return text.format(
            first=contact.first,
            site=site or client.spec.sites[0][0],
            device=device,
            count=self.rng.randint(3, 12),
        )

    def new_ticket(
        self,
        created_at: datetime,
        client: ClientPlan,
        category: str,
        *,
        contact_key: str | None = None,
        site: str | None = None,
        scenario: texts.Scenario | None = None,
    ) -> tuple[TicketPlan, texts.Scenario]:
        rng = self.rng
        days_ago = (self.now - created_at).total_seconds() / 86400
        level = surge_level(days_ago)
        scenario = scenario or self._scenario(category, level)
        if contact_key is None:
            members = self.members[client.spec.key]
            weights = [2.5 if k == client.portal_contact else 1.0 for k in members]
            contact_key = rng.choices(members, weights=weights)[0]
        contact = self.contacts[contact_key]
        if site is None:
            site = contact.site if contact.clients[0] == client.spec.key else None
            site = site or rng.choice(client.spec.sites)[0]
        priority = _weighted(rng, PRIORITY_WEIGHTS.get(category, DEFAULT_PRIORITY_WEIGHTS))
        if category == "security" and level > 0.5 and priority == "normal" and rng.random() < 0.4:
            priority = "high"
        by_portal = (
            bool(contact.portal_username)
            and client.spec.key in contact.clients[:1]
            and rng.random() < 0.45
        )
        subject, body, _fix, _question = scenario.text(contact.language)
        subject = self._fill(subject, client, contact, site)
        body = texts.sign(contact.language, contact.first, self._fill(body, client, contact, site))
        technician = self._technician(category)
        if by_portal:
            creator, queue, assignee = contact.portal_username, None, None
            # The portal offers low, normal and high; urgency is the technicians' call.
            priority = "high" if priority == "urgent" else priority
        else:
            creator = technician if rng.random() < 0.7 else self._technician(category)
            queue = scenario.queue
            assignee = technician if rng.random() < 0.45 else None
        plan = TicketPlan(
            key=len(self.tickets),
            client=client.spec.key,
            site=site,
            contact=contact_key,
            category=category,
            queue=queue,
            subject=subject,
            body=body,
            priority=priority,
            created_at=created_at,
            creator=creator,
            assignee=assignee,
        )
        plan_technician = assignee or technician
        self.tickets.append(plan)
        self._owner[plan.key] = plan_technician
        return plan, scenario

    def tickets_and_lives(self) -> None:
        rng = self.rng
        cells = self._day_weights()
        weights = [w for _d, _c, w in cells]
        primaries: list[tuple[TicketPlan, texts.Scenario]] = []
        while len(primaries) < self.ticket_count:
            days_ago, category, _w = rng.choices(cells, weights=weights)[0]
            client = self._pick_client(days_ago)
            moment = self._moment(client, days_ago)
            if moment is None:
                continue
            primaries.append(self.new_ticket(moment, client, category))
        for plan, scenario in primaries:
            client = self.clients[plan.client]
            self.life(plan, scenario)
            level = surge_level((self.now - plan.created_at).total_seconds() / 86400)
            if plan.category in ("remote-access", "security") and rng.random() < 0.03 * level:
                self.duplicate(plan, scenario)
            if (
                plan.category in ("network", "remote-access")
                and len(client.spec.sites) > 1
                and rng.random() < 0.05 * level
            ):
                self.sibling(plan, scenario)

    def duplicate(self, original: TicketPlan, scenario: texts.Scenario) -> None:
        """A second report of the same problem from the same client, merged into the first."""
        client = self.clients[original.client]
        at = original.created_at + timedelta(minutes=self.rng.randint(5, 120))
        if at >= self.now:
            return
        dup, _s = self.new_ticket(at, client, original.category, scenario=scenario)
        owner = self._owner[original.key]
        language = self.staff[owner].language
        steps = [Step(at, dup.key, "create", dup.creator)]
        merge_at = sla.add_business_minutes(at, self.rng.randint(10, 60), client.calendar)
        steps.append(Step(merge_at, dup.key, "note", owner, body=texts.DUPLICATE_NOTE[language]))
        steps.append(
            Step(merge_at + timedelta(minutes=1), dup.key, "merge", owner, value=original.key)
        )
        self._keep(steps)

    def sibling(self, original: TicketPlan, scenario: texts.Scenario) -> None:
        """The same outage reported from another site of the client; the tickets get linked."""
        client = self.clients[original.client]
        at = original.created_at + timedelta(minutes=self.rng.randint(10, 180))
        other_sites = [name for name, _addr in client.spec.sites if name != original.site]
        if at >= self.now or not other_sites:
            return
        site = self.rng.choice(other_sites)
        sibling, _s = self.new_ticket(at, client, original.category, site=site, scenario=scenario)
        self.life(sibling, scenario)
        owner = self._owner[original.key]
        link_at = sla.add_business_minutes(at, self.rng.randint(5, 30), client.calendar)
        language = self.staff[owner].language
        self._keep(
            [
                Step(link_at, sibling.key, "note", owner, body=texts.LINK_NOTE[language]),
                Step(
                    link_at + timedelta(seconds=30), sibling.key, "link", owner, value=original.key
                ),
            ]
        )

    def _keep(self, steps: list[Step]) -> None:
        # What would happen after "now" has not happened yet.
        self.steps.extend(s for s in steps if s.at < self.now)

    def life(self, plan: TicketPlan, scenario: texts.Scenario) -> None:
        """Every step of one ticket, from its creation to its closing, on the client's calendar."""
        rng = self.rng
        client = self.clients[plan.client]
        contact = self.contacts[plan.contact]
        cal = client.calendar
        owner = self._owner[plan.key]
        staff = self.staff[owner]
        lang, tech_lang = contact.language, staff.language
        _subject, _body, fix, question = scenario.text(lang)
        fix = self._fill(fix, client, contact, plan.site)
        question = question or texts.GENERIC_QUESTION[lang]
        first_target, resolution_target = self.targets[plan.priority]
        stress = 1 + 1.3 * surge_level((self.now - plan.created_at).total_seconds() / 86400)
        by_portal = plan.creator == contact.portal_username

        def later(at: datetime, minutes: float) -> datetime:
            return sla.add_business_minutes(at, max(1, int(minutes)), cal)

        def say(text: str) -> str:
            return texts.greet(lang, contact.first, text, staff.first_name)

        steps: list[Step] = []

        def add(at: datetime, kind: str, actor: str, body: str = "", value: Any = None) -> datetime:
            steps.append(Step(at, plan.key, kind, actor, body=body, value=value))
            return at

        add(plan.created_at, "create", plan.creator)
        respond_at = later(plan.created_at, first_target * _lognormal(rng, 0.35, 0.9) * stress)
        if plan.assignee is None:
            assign_at = plan.created_at + (respond_at - plan.created_at) * rng.uniform(0.2, 0.8)
            assign_at = max(assign_at, plan.created_at + timedelta(minutes=1))
            dispatcher = owner if rng.random() < 0.6 else "admin"
            add(assign_at, "assign", dispatcher, value=owner)
            if by_portal:
                # Triage puts what came in through the portal into the right queue.
                add(assign_at + timedelta(seconds=20), "fields", dispatcher, value=scenario.queue)
        respond_at = max(respond_at, steps[-1].at + timedelta(minutes=1))

        third_weight = 0.14 if plan.category in THIRD_PARTY_CATEGORIES else 0.04
        flow = _weighted(rng, {"quick": 0.3, "normal": 0.45, "info": 0.18, "third": third_weight})
        minute = timedelta(minutes=1)
        t = respond_at
        if flow == "quick":
            add(t, "reply", owner, say(fix))
        else:
            opening = question if flow == "info" else rng.choice(texts.ACK[lang])
            add(t, "reply", owner, say(opening))
        if plan.priority in ("normal", "high") and rng.random() < 0.05:
            escalated = "high" if plan.priority == "normal" else "urgent"
            t = add(t + timedelta(minutes=rng.randint(3, 30)), "priority", owner, value=escalated)
            resolution_target = self.targets[escalated][1]
        if flow == "info":
            t = add(t + minute, "status", owner, value="waiting_client")
            t = later(t, _lognormal(rng, 240, 1.0))
            if by_portal:
                answer = rng.choice(texts.CLIENT_ANSWER[lang])
                add(t, "reply", plan.creator, texts.sign(lang, contact.first, answer))
            else:
                add(t, "note", owner, texts.PHONE_ANSWER_NOTE[tech_lang])
                t = add(t + minute, "status", owner, value="open")
        if flow == "third":
            t = add(
                later(t, rng.randint(15, 120)),
                "note",
                owner,
                rng.choice(texts.THIRD_PARTY_NOTE[tech_lang]),
            )
            t = add(t + minute, "status", owner, value="waiting_third_party")
            # Vendors mostly answer in days; now and then a case drags on for weeks.
            t = add(
                later(t, _lognormal(rng, 2 * 9 * 60, 1.0)),
                "note",
                owner,
                texts.THIRD_PARTY_DONE_NOTE[tech_lang],
            )
            t = add(t + minute, "status", owner, value="open")
        if flow != "quick" and rng.random() < 0.5:
            note = rng.choice(texts.NOTES[tech_lang])
            t = add(later(t, rng.randint(10, 120)), "note", owner, note)
        if flow != "quick":
            work = resolution_target * _lognormal(rng, 0.2, 0.9) * stress
            t = add(later(t, work), "reply", owner, say(fix))
        entries = 1 if flow == "quick" else rng.randint(1, 3)
        steps += self._time_entries(plan, owner, t, tech_lang, entries)
        resolved_at = t = add(t + 2 * minute, "status", owner, value="resolved")
        if by_portal and rng.random() < 0.04:
            t = add(
                later(t, rng.randint(120, 1500)),
                "reply",
                plan.creator,
                texts.sign(lang, contact.first, texts.STILL_BROKEN[lang]),
            )
            t = add(later(t, rng.randint(30, 300)), "reply", owner, say(fix))
            resolved_at = t = add(t + minute, "status", owner, value="resolved")
        if rng.random() < 0.25:
            add(later(t, rng.randint(60, 600)), "status", owner, value="closed")
        elif self.autoclose_days:
            add(resolved_at + timedelta(days=self.autoclose_days, minutes=5), "autoclose", "")
        self._keep(steps)

    def _time_entries(
        self, plan: TicketPlan, owner: str, end: datetime, language: str, count: int
    ) -> list[Step]:
        rng = self.rng
        steps = []
        for n in range(count):
            if plan.queue == "projects":
                work, minutes = "project", rng.randint(6, 24) * 10
            elif plan.category in ONSITE_CATEGORIES and rng.random() < 0.35:
                work, minutes = "onsite", rng.randint(3, 12) * 15
            else:
                work, minutes = "remote", rng.choice([5, 10, 15, 15, 20, 30, 30, 45, 60, 90])
            steps.append(
                Step(
                    end + timedelta(seconds=10 + n),
                    plan.key,
                    "time",
                    owner,
                    body=rng.choice(texts.TIME_NOTES[language]),
                    value=minutes,
                    extra={"work_type": work, "is_billable": rng.random() < 0.85},
                )
            )
        return steps


def build_plan(
    *,
    seed: int = DEFAULT_SEED,
    now: datetime,
    tickets: int = DEFAULT_TICKETS,
    targets: dict[str, tuple[int, int]],
    autoclose_days: int = 7,
) -> DemoPlan:
    """The whole demo, deterministic for a given seed, ``now``, size and SLA targets.

    ``targets`` maps each priority to its (first response, resolution) business minutes,
    as the install's SLA policies say.
    """
    planner = _Planner(seed, now, tickets, targets, autoclose_days)
    planner.people()
    planner.tickets_and_lives()
    # Creation order is time order, so ticket numbers rise with creation like in real life;
    # everything is replayed in time order across tickets.
    ordered = sorted(planner.tickets, key=lambda t: (t.created_at, t.key))
    order = {t.key: i for i, t in enumerate(ordered)}
    steps = sorted(planner.steps, key=lambda s: (s.at, order[s.ticket], s.kind != "create"))
    return DemoPlan(
        seed=seed,
        now=now,
        clients=list(planner.clients.values()),
        contacts=list(planner.contacts.values()),
        tickets=ordered,
        steps=steps,
    )
