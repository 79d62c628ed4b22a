"""Forms of the technician ticket UI: list filters, a new ticket, and the ticket page's actions.

Forms only parse and shape input; every cross-object rule (a site must be the client's,
an assignee must be a technician, a merged ticket stays closed) is the service layer's,
and its ValidationErrors are put back on these forms with ``add_service_errors`` so they
show next to the field they name.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import (
    Case,
    DateTimeField,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import ExpressionWrapper
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from atalaya.core.models import TICKET_WRITER_ROLES, Client, Contact, Site, User
from atalaya.core.widgets import QuickSelect
from atalaya.tickets import search, services
from atalaya.tickets.models import (
    OPEN_STATUSES,
    Category,
    Priority,
    Queue,
    Status,
    Ticket,
    WorkType,
    display_name,
)

PAGE_SIZE = 50
# Offset pagination is cheap near the top and ruinous deep down at a million rows; past
# this page the list asks for narrower filters instead of scanning ever further.
MAX_PAGE = 200
# Mirrors atalaya.tickets.sla.state_of: due soon within the last quarter or last hour.
DUE_SOON_MIN = timedelta(hours=1)


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form, next to the field it names if present."""
    if hasattr(exc, "error_dict"):
        for field, messages in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, exc.messages)


def assignable_users() -> Any:
    """Staff a ticket may be given to: active admins and technicians."""
    return User.objects.filter(role__in=TICKET_WRITER_ROLES, is_active=True).order_by(
        "first_name", "last_name", "username"
    )


class _UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.display_name())


class CategoryChoiceField(forms.ModelChoiceField):
    """Categories by name in the viewer's language (the ticket and call forms)."""

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.localized_name(get_language() or "en"))


class _NamedChoiceField(forms.ModelChoiceField):
    # Queues and work types: the ones a fresh install creates read in the viewer's language.
    def label_from_instance(self, obj: Any) -> str:
        return display_name(obj.name)


class _SiteChoiceField(forms.ModelChoiceField):
    # Site.__str__ names the client, which would cost a query per option.
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name, each checked by services.validate_upload (size, type)."""

    widget = MultipleFileInput

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        items = data if isinstance(data, list | tuple) else [data]
        files = [single(item, initial) for item in items if item]
        for upload in files:
            try:
                services.validate_upload(upload)
            except ValidationError as exc:
                raise ValidationError(
                    [m for messages in exc.message_dict.values() for m in messages]
                ) from None
        return files


# ---------------------------------------------------------------------------------------
# Ticket list filters
# ---------------------------------------------------------------------------------------

STATUS_FILTER_CHOICES: list[tuple[str, Any]] = [
    ("open", _("Open (all open statuses)")),
    ("all", _("Any status")),
    *Status.choices,
]
SLA_FILTER_CHOICES = [
    ("", _("Any SLA state")),
    ("breached", _("Breached")),
    ("due_soon", _("Due soon")),
]
SORT_CHOICES = [
    ("updated", _("Updated")),
    ("created", _("Created")),
    ("priority", _("Priority")),
    ("due", _("Due date")),
]
DIR_CHOICES = [("desc", _("Descending")), ("asc", _("Ascending"))]


class EpochSeconds(Func):
    """Seconds since 1970 of a datetime expression, so SLA windows can be compared in SQL."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django keeps SQLite datetimes as UTC text, which julianday() reads; 2440587.5 is
        # the Julian day of the Unix epoch.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )


def with_sla_clock(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Annotate the clock that matters now (``sla_due``) and its stop time (``sla_done``).

    Mirrors sla.state_of: before the first response the first-response clock runs, with
    no stop time; afterwards the resolution clock, stopped by resolution.
    """
    first_clock = Q(first_responded_at__isnull=True, first_response_due_at__isnull=False)
    return qs.annotate(
        sla_due=Case(
            When(first_clock, then=F("first_response_due_at")),
            default=F("resolution_due_at"),
            output_field=DateTimeField(),
        ),
        sla_done=Case(
            When(first_clock, then=Value(None, output_field=DateTimeField())),
            default=F("resolved_at"),
            output_field=DateTimeField(),
        ),
    )


def filter_sla(qs: QuerySet[Ticket], state: str, now: datetime) -> QuerySet[Ticket]:
    """Tickets whose ``sla_state(now)`` is ``state`` ('breached' or 'due_soon'), in SQL."""
    qs = with_sla_clock(qs)
    if state == "breached":
        return qs.filter(
            Q(sla_due__isnull=False)
            & (
                Q(sla_done__isnull=False, sla_done__gt=F("sla_due"))
                | Q(
                    sla_done__isnull=True,
                    sla_paused_at__isnull=False,
                    sla_paused_at__gt=F("sla_due"),
                )
                | Q(sla_done__isnull=True, sla_paused_at__isnull=True, sla_due__lt=now)
            )
        )
    # Due soon: still running and due - now <= max((due - created) / 4, 1 hour); the
    # quarter rule is 3·due + created <= 4·now, in epoch seconds.
    qs = qs.annotate(
        sla_soon_score=ExpressionWrapper(
            3 * EpochSeconds(F("sla_due")) + EpochSeconds(F("created_at")),
            output_field=FloatField(),
        )
    )
    return qs.filter(
        Q(
            sla_due__isnull=False,
            sla_done__isnull=True,
            sla_paused_at__isnull=True,
            sla_due__gte=now,
        )
        & (Q(sla_due__lte=now + DUE_SOON_MIN) | Q(sla_soon_score__lte=4 * now.timestamp()))
    )


KEYSET_SORTS = {"updated": "updated_at", "created": "created_at"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(moment: datetime, pk: int) -> str:
    """A row's place in a timestamp sort, as whole microseconds since 1970 and its id."""
    delta = moment - _EPOCH
    return f"{(delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds}.{pk}"


def decode_cursor(value: str) -> tuple[datetime, int]:
    micros, _sep, pk = value.partition(".")
    return _EPOCH + timedelta(microseconds=int(micros)), int(pk)


def _beyond(
    qs: QuerySet[Ticket], field: str, cursor: tuple[datetime, int], *, greater: bool
) -> QuerySet[Ticket]:
    """Rows whose (field, id) is greater (or smaller) than the cursor's, as an index range."""
    moment, pk = cursor
    if greater:
        return qs.filter(**{f"{field}__gte": moment}).exclude(**{field: moment, "id__lte": pk})
    return qs.filter(**{f"{field}__lte": moment}).exclude(**{field: moment, "id__gte": pk})


@dataclass
class Page:
    """One page of ticket ids; ``next``/``previous`` are the query parameters that lead on."""

    ids: list[int]
    next: dict[str, str] | None = None
    previous: dict[str, str] | None = None
    at_limit: bool = False


class TicketFilterForm(forms.Form):
    """The ticket list's GET form: filters, full-text ``q``, sort and page.

    Choice lists for clients, assignees, queues and categories are passed in so the view
    loads each once; values are public ones (client UUID, queue and category slugs).
    """

    status = forms.ChoiceField(
        label=_("Status"), choices=STATUS_FILTER_CHOICES, required=False, widget=QuickSelect
    )
    client = forms.ChoiceField(label=_("Client"), required=False, widget=QuickSelect)
    assignee = forms.ChoiceField(label=_("Assignee"), required=False, widget=QuickSelect)
    queue = forms.ChoiceField(label=_("Queue"), required=False, widget=QuickSelect)
    category = forms.ChoiceField(label=_("Category"), required=False, widget=QuickSelect)
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=[("", _("Any priority")), *Priority.choices],
        required=False,
        widget=QuickSelect,
    )
    sla = forms.ChoiceField(
        label=_("SLA"), choices=SLA_FILTER_CHOICES, required=False, widget=QuickSelect
    )
    q = forms.CharField(label=_("Search"), max_length=search.MAX_QUERY_LENGTH, required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"), choices=SORT_CHOICES, required=False, widget=QuickSelect
    )
    dir = forms.ChoiceField(
        label=_("Order"), choices=DIR_CHOICES, required=False, widget=QuickSelect
    )
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    after = forms.CharField(max_length=60, required=False, widget=forms.HiddenInput)
    before = forms.CharField(max_length=60, required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        data: Any,
        *,
        clients: Sequence[tuple[str, str]],
        assignees: Sequence[tuple[str, str]],
        queues: Sequence[tuple[str, str]],
        categories: Sequence[tuple[str, str]],
    ) -> None:
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["client"]).choices = [("", _("Any client")), *clients]
        cast(forms.ChoiceField, self.fields["assignee"]).choices = [
            ("", _("Anyone")),
            ("me", _("Me")),
            ("unassigned", _("Unassigned")),
            *assignees,
        ]
        cast(forms.ChoiceField, self.fields["queue"]).choices = [("", _("Any queue")), *queues]
        cast(forms.ChoiceField, self.fields["category"]).choices = [
            ("", _("Any category")),
            *categories,
        ]

    def _clean_cursor(self, name: str) -> tuple[datetime, int] | None:
        value = self.cleaned_data.get(name)
        if not value:
            return None
        try:
            return decode_cursor(value)
        except (ValueError, OverflowError):
            raise ValidationError(
                _("This page link is damaged; start again from the first page.")
            ) from None

    def clean_after(self) -> tuple[datetime, int] | None:
        return self._clean_cursor("after")

    def clean_before(self) -> tuple[datetime, int] | None:
        return self._clean_cursor("before")

    @property
    def page_number(self) -> int:
        page = self.cleaned_data.get("page") or 1
        return min(page, MAX_PAGE)

    def page_of(self, qs: QuerySet[Ticket], size: int) -> Page:
        """The ids of one page of ``qs`` (already ordered by ``apply``) and how to move on.

        The timestamp sorts page by keyset: the next page starts after the last row's
        (timestamp, id), so page 500 costs what page 1 costs. The computed sorts
        (priority, SLA due) have no index to walk and fall back to a capped offset.
        """
        data = self.cleaned_data
        field = KEYSET_SORTS.get(data.get("sort") or "updated")
        if field is None:
            page = self.page_number
            offset = (page - 1) * size
            ids = list(qs.values_list("id", flat=True)[offset : offset + size + 1])
            has_next = len(ids) > size and page < MAX_PAGE
            return Page(
                ids=ids[:size],
                next={"page": str(page + 1)} if has_next else None,
                previous={"page": str(page - 1)} if page > 1 else None,
                at_limit=page >= MAX_PAGE,
            )
        desc = (data.get("dir") or "desc") == "desc"
        before, after = data.get("before"), data.get("after")
        if before is not None:
            # Walk back from the cursor in reverse order, then put the rows right way round.
            rows = list(
                _beyond(qs, field, before, greater=desc)
                .reverse()
                .values_list("id", field)[: size + 1]
            )
            has_previous, has_next = len(rows) > size, True
            rows = rows[:size][::-1]
        else:
            if after is not None:
                qs = _beyond(qs, field, after, greater=not desc)
            rows = list(qs.values_list("id", field)[: size + 1])
            has_previous, has_next = after is not None, len(rows) > size
            rows = rows[:size]
        return Page(
            ids=[pk for pk, _moment in rows],
            next={"after": encode_cursor(rows[-1][1], rows[-1][0])} if has_next and rows else None,
            previous={"before": encode_cursor(rows[0][1], rows[0][0])}
            if has_previous and rows
            else None,
        )

    def apply(self, qs: QuerySet[Ticket], *, user: User, now: datetime) -> QuerySet[Ticket]:
        """The visible tickets narrowed by the cleaned filters, in the chosen order."""
        data = self.cleaned_data
        status = data.get("status") or "open"
        if status == "open":
            qs = qs.filter(status__in=OPEN_STATUSES)
        elif status != "all":
            qs = qs.filter(status=status)
        if data.get("client"):
            qs = qs.filter(client__public_id=data["client"])
        assignee = data.get("assignee")
        if assignee == "me":
            qs = qs.filter(assignee=user)
        elif assignee == "unassigned":
            qs = qs.filter(assignee__isnull=True)
        elif assignee:
            qs = qs.filter(assignee_id=int(assignee))
        if data.get("queue"):
            qs = qs.filter(queue__slug=data["queue"])
        if data.get("category"):
            qs = qs.filter(category__slug=data["category"])
        if data.get("priority"):
            qs = qs.filter(priority=data["priority"])
        if data.get("sla"):
            qs = filter_sla(qs, data["sla"], now)
        if data.get("q"):
            qs = search.filter_tickets(qs, data["q"])
        return self._order(qs, data.get("sort") or "updated", data.get("dir") or "desc")

    @staticmethod
    def _order(qs: QuerySet[Ticket], sort: str, direction: str) -> QuerySet[Ticket]:
        desc = direction == "desc"
        # The id tie-break keeps pages stable when two tickets share a timestamp.
        tie = "-id" if desc else "id"
        if sort == "created":
            return qs.order_by("-created_at" if desc else "created_at", tie)
        if sort == "priority":
            rank = Case(
                *(When(priority=p, then=Value(i)) for i, p in enumerate(Priority.values)),
                output_field=IntegerField(),
            )
            qs = qs.annotate(priority_rank=rank)
            order = F("priority_rank").desc() if desc else F("priority_rank").asc()
            return qs.order_by(order, "-updated_at", tie)
        if sort == "due":
            if "sla_due" not in qs.query.annotations:
                qs = with_sla_clock(qs)
            due = F("sla_due").desc(nulls_last=True) if desc else F("sla_due").asc(nulls_last=True)
            return qs.order_by(due, tie)
        return qs.order_by("-updated_at" if desc else "updated_at", tie)


class SavedViewForm(forms.Form):
    """Name the list's current query string to come back to it."""

    name = forms.CharField(label=_("Name"), max_length=100)
    query = forms.CharField(max_length=1000, required=False, widget=forms.HiddenInput)


# ---------------------------------------------------------------------------------------
# New ticket
# ---------------------------------------------------------------------------------------


def parse_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


class TicketCreateForm(forms.Form):
    """A technician opens a ticket for a client.

    Sites and contacts are offered for the chosen client only (the list comes from the
    client options endpoint under HTMX, or from ``?client=`` without JavaScript), but any
    visible one is accepted here so a mismatch reaches the service, whose field error
    then explains it.
    """

    client = forms.ModelChoiceField(
        label=_("Client"), queryset=Client.objects.none(), to_field_name="public_id"
    )
    site = _SiteChoiceField(
        label=_("Site"), queryset=Site.objects.none(), to_field_name="public_id", required=False
    )
    contact = forms.ModelChoiceField(
        label=_("Contact"),
        queryset=Contact.objects.none(),
        to_field_name="public_id",
        required=False,
    )
    queue = _NamedChoiceField(label=_("Queue"), queryset=Queue.objects.all(), required=False)
    category = CategoryChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Priority.choices, initial=Priority.NORMAL
    )
    assignee = _UserChoiceField(
        label=_("Assignee"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Unassigned"),
    )
    subject = forms.CharField(label=_("Subject"), max_length=250)
    body = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea,
        required=False,
        max_length=services.MAX_BODY_LENGTH,
    )
    attachments = MultipleFileField(label=_("Attachments"))

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["client"]).queryset = Client.objects.visible_to(
            user
        ).filter(is_active=True)
        cast(forms.ModelChoiceField, self.fields["site"]).queryset = Site.objects.visible_to(user)
        cast(forms.ModelChoiceField, self.fields["contact"]).queryset = Contact.objects.visible_to(
            user
        )
        cast(forms.ModelChoiceField, self.fields["assignee"]).queryset = assignable_users()
        # With HTMX, picking a client swaps in its sites and contacts.
        self.fields["client"].widget.attrs.update(
            {
                "hx-get": reverse("tickets:client_options"),
                "hx-target": "#client-fields",
                "hx-swap": "outerHTML",
                "hx-trigger": "change",
            }
        )
        self.limit_to_client(self.chosen_client_id())

    def chosen_client_id(self) -> uuid.UUID | None:
        raw = self.data.get("client") if self.is_bound else self.initial.get("client")
        return parse_uuid(raw) if raw else None

    def limit_to_client(self, client_id: uuid.UUID | None) -> None:
        """Offer only the chosen client's sites and contacts (nothing before a client is chosen)."""
        empty = [("", "—")]
        if client_id is None:
            self.fields["site"].widget.choices = empty
            self.fields["contact"].widget.choices = empty
            return
        sites = Site.objects.filter(client__public_id=client_id).values_list("public_id", "name")
        contacts = Contact.objects.filter(memberships__client__public_id=client_id)
        self.fields["site"].widget.choices = empty + [(str(pk), name) for pk, name in sites]
        self.fields["contact"].widget.choices = empty + [
            (str(c.public_id), str(c)) for c in contacts
        ]


# ---------------------------------------------------------------------------------------
# Ticket page actions
# ---------------------------------------------------------------------------------------


class ReplyForm(forms.Form):
    """A public reply; the client sees it."""

    body = forms.CharField(
        label=_("Reply"), widget=forms.Textarea, required=False, max_length=services.MAX_BODY_LENGTH
    )
    attachments = MultipleFileField(label=_("Attachments"))


class NoteForm(forms.Form):
    """An internal note, for staff only (field names carry the ``note-`` prefix)."""

    prefix = "note"
    body = forms.CharField(
        label=_("Internal note"),
        widget=forms.Textarea,
        required=False,
        max_length=services.MAX_BODY_LENGTH,
    )
    attachments = MultipleFileField(label=_("Attachments"))


class TimeEntryForm(forms.Form):
    """Minutes worked on the ticket."""

    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=24 * 60)
    is_billable = forms.BooleanField(label=_("Billable"), required=False, initial=True)
    work_type = _NamedChoiceField(
        label=_("Work type"), queryset=WorkType.objects.all(), required=False
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)
    worked_on = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=Status.choices)


class AssignForm(forms.Form):
    assignee = _UserChoiceField(
        label=_("Assignee"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("Unassigned"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["assignee"]).queryset = assignable_users()


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Priority.choices)


class ClassifyForm(forms.Form):
    """Queue and category: where the ticket waits and what area of the business it is about."""

    queue = _NamedChoiceField(label=_("Queue"), queryset=Queue.objects.all(), required=False)
    category = CategoryChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False
    )


class MergeForm(forms.Form):
    target = forms.IntegerField(label=_("Merge into ticket number"), min_value=1)


class LinkForm(forms.Form):
    other = forms.IntegerField(label=_("Link to ticket number"), min_value=1)


def ticket_initial(ticket: Ticket) -> dict[str, Any]:
    """Initial values of the ticket page's field forms, from the ticket as it is."""
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": ticket.assignee_id,
        "queue": ticket.queue_id,
        "category": ticket.category_id,
    }
