"""What a template may know: one typed context model per template, and nothing else.

The fields are an allow-list (``ALLOWED_FIELDS``): case_ref, stage, item title(s), organisation
names, dates and counts of days, a link, a calendar uid. A template is rendered from
``model_dump()`` of its context, plain values only, so it cannot reach a table row, let alone
the ``Beneficiary``. Text that people typed elsewhere (organisation names) is folded onto one
line without control characters, so it can go into a subject line or an HTML page unharmed.

``genitives`` maps the organisation names of a context to their Romanian genitive-dative form,
where the organisation stored one (``Organisation.name_genitive``): Romanian templates decline
a name with the ``genitive`` filter ("punctele Asociației ADPARE"), which phrases around a name
it has no form for ("punctele organizației ADPARE").

``link`` is where the reader acts: the item's page (``/items/ID``) or the case's
(``/cases/CASE_REF``) in the web workspace (``workspace_url()``). It carries no token and no
personal data; the page asks whoever opens it to sign in. A context built without one (a row
queued before links existed) gets it when validated, so every staff email says where to act.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from homeward.base.settings import Settings, workspace_url

ALLOWED_FIELDS = frozenset(
    {
        "case_ref",
        "stage",
        "item_number",
        "item_title",
        "item_titles",
        "org_name",
        "from_org",
        "to_org",
        "due_on",
        "day",
        "days",
        "link",
        "calendar_uid",
        "overdue",
        "due_today",
        "coming_due",
        "partners_overdue",
        "unreached_org",
        "cases",
        "unreached",
        "code",
        "minutes",
        "starts_at",
        "time",
        "sequence",
        "cancelled",
        "owner_org",
        "genitives",
        "tzid",
        "attendee",
        "problem",
        "flow_name",
        "count",
        "recovered",
    }
)


def one_line(value: str) -> str:
    """Fold ``value`` onto one line: control and format characters (CR, LF, NUL, bidi
    overrides...) and runs of whitespace become single spaces."""
    if value.isprintable():  # the common case: no control or format character to replace
        return " ".join(value.split())
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in value)
    return " ".join(cleaned.split())


def _folded(value: str) -> str:
    folded = one_line(value)
    if not folded:
        raise ValueError("must have some printable text")
    return folded


def _no_line_breaks(value: str) -> str:
    if value != one_line(value):
        raise ValueError("must be one line of printable text")
    return value


Text = Annotated[str, AfterValidator(_folded), Field(min_length=1, max_length=300)]
CaseRef = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,15}$")]
Link = Annotated[str, AfterValidator(_no_line_breaks), Field(pattern=r"^https?://[^\s<>\"']+$")]
CalendarUid = Annotated[str, Field(pattern=r"^[A-Za-z0-9.@_-]{1,120}$")]
Genitives = Annotated[dict[Text, Text], Field(max_length=8)]  # organisation name -> genitive
ZoneName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")]
Address = Annotated[str, Field(pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+$")]


class Context(BaseModel):
    """Base of every template context: closed (no extra fields) and immutable.

    ``secret`` names fields the outbox wipes from its row once the message is sent or given up
    (a sign-in code); a message with secrets is not sent any more once ``expired``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret: ClassVar[frozenset[str]] = frozenset()

    def expired(self, queued_at: datetime, now: datetime) -> bool:  # noqa: ARG002 (overridden)
        """Whether a message queued at ``queued_at`` is of no use any more at ``now``."""
        return False


class ItemLine(Context):
    """One checklist item in a digest. ``days``: days until due (negative when overdue)."""

    case_ref: CaseRef
    stage: Text
    item_number: int
    item_title: Text
    org_name: Text
    due_on: date
    days: int
    link: Link | None = None  # the item's page
    calendar_uid: CalendarUid | None = None  # rows queued before visits had their own emails

    @model_validator(mode="before")
    @classmethod
    def _item_page(cls, data: Any) -> Any:
        return _with_link(data, lambda d: item_link(d["item_number"]))


class DigestContext(Context):
    """The daily digest of one staff member (or organisation mailbox)."""

    day: date
    org_name: Text
    overdue: tuple[ItemLine, ...] = ()
    due_today: tuple[ItemLine, ...] = ()
    coming_due: tuple[ItemLine, ...] = ()
    partners_overdue: tuple[ItemLine, ...] = ()  # other organisations' items on my cases
    genitives: Genitives = Field(default_factory=dict)


class EscalatedItem(Context):
    """One overdue item in a supervisor's escalation digest; ``days``: days late."""

    item_number: int
    item_title: Text
    stage: Text
    due_on: date
    days: int = Field(ge=1)
    link: Link | None = None  # the item's page
    genitives: Genitives = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _item_page(cls, data: Any) -> Any:
        return _with_link(data, lambda d: item_link(d["item_number"]))


class EscalatedGroup(Context):
    """The overdue items of one organisation (``org_name``) on one case. ``unreached``: that
    organisation has neither supervisor nor mailbox, so the case owner's supervisors are told."""

    case_ref: CaseRef
    org_name: Text
    unreached: bool = False
    overdue: tuple[EscalatedItem, ...] = Field(min_length=1)


class EscalationContext(Context):
    """A supervisor's one escalation digest of the ``day``: the overdue items due a mention
    today (the cadence of ``rules.json``), grouped by case and organisation. ``org_name``: the
    reader's own organisation."""

    day: date
    org_name: Text
    cases: tuple[EscalatedGroup, ...] = Field(min_length=1)


class AppointmentContext(Context):
    """An appointment (an ad-hoc item with a start: a court hearing), invited to, moved or
    cancelled: its generic title by kind, never the free title; ``time``: the local hour of
    ``starts_at`` (UTC) in ``tzid``, the reader's time zone (HOMEWARD_TIMEZONE when absent,
    on rows queued before it existed); ``sequence`` counts its changes, so a calendar replaces
    the entry with the same ``calendar_uid``; ``attendee``: the reader's own address, the only
    attendee the invitation names."""

    case_ref: CaseRef
    stage: Text
    item_number: int
    item_title: Text
    org_name: Text
    due_on: date
    time: Annotated[str, Field(pattern=r"^\d{2}:\d{2}$")]
    starts_at: datetime
    sequence: int = Field(ge=0, le=10_000)
    cancelled: bool = False
    calendar_uid: CalendarUid
    link: Link | None = None  # the item's page
    genitives: Genitives = Field(default_factory=dict)
    tzid: ZoneName | None = None
    attendee: Address | None = None

    @model_validator(mode="before")
    @classmethod
    def _item_page(cls, data: Any) -> Any:
        return _with_link(data, lambda d: item_link(d["item_number"]))


class VisitContext(AppointmentContext):
    """A follow-up visit's calendar invitation, its update (moved: a higher ``sequence``) or
    its cancellation, as an email of its own (never inside a digest): the visit's title,
    the case_ref and the due day at the item's time in the reader's zone."""


class HandoffContext(Context):
    """An item (or, without ``item_title``, a whole case) handed between organisations:
    ``from_org`` handed it over (its staff proposed it); ``owner_org``, when another, held it
    (a partner's item handed on by the case owner's staff)."""

    case_ref: CaseRef
    stage: Text
    item_number: int | None = None
    item_title: Text | None = None
    from_org: Text
    to_org: Text
    owner_org: Text | None = None
    link: Link | None = None  # the item's page, or the case's for a whole case
    genitives: Genitives = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _item_or_case_page(cls, data: Any) -> Any:
        return _with_link(
            data,
            lambda d: (
                item_link(d["item_number"])
                if d.get("item_number") is not None
                else case_link(d["case_ref"])
            ),
        )


class ConsentWithdrawnContext(Context):
    """Consent withdrawn: the organisation's open items on the case were cancelled."""

    case_ref: CaseRef
    org_name: Text
    item_titles: tuple[Text, ...] = ()
    link: Link | None = None  # the case's page
    genitives: Genitives = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _case_page(cls, data: Any) -> Any:
        return _with_link(data, lambda d: case_link(d["case_ref"]))


class PartnerContext(Context):
    """A partner's part in a case began (its items) or ended (its cancelled items). ``link``:
    the case's page when it began; none when it ended (the partner may not look any more)."""

    case_ref: CaseRef
    org_name: Text
    item_titles: tuple[Text, ...] = ()
    link: Link | None = None
    genitives: Genitives = Field(default_factory=dict)


class SendTestContext(Context):
    """``homeward mail send-test``: proves the settings work; carries no case at all.
    ``link``: the workspace's home page."""

    day: date
    link: Link | None = None


class LoginCodeContext(Context):
    """A one-time sign-in code (``homeward login``, the web workspace's sign-in): the code, how
    long it lives and ``link``, the workspace page that signs in with it (``signin_link``; it
    holds the code, so it is as secret). No case. The outbox row holds no link: the sender
    adds it from its own settings (``with_signin_link``)."""

    code: Annotated[str, Field(pattern=r"^\d{8}$")]
    minutes: int = Field(ge=1, le=60)
    link: Link | None = None
    secret: ClassVar[frozenset[str]] = frozenset({"code", "link"})

    def expired(self, queued_at: datetime, now: datetime) -> bool:
        """A code is no use once it stopped working: such an email is not sent late."""
        return now >= queued_at + timedelta(minutes=self.minutes)


class HealthAlertContext(Context):
    """A health alert to managers (``notifications.health``): a scheduled flow that did not run
    on time (``late``) or whose last run failed (``failed``), or mail stuck in the outbox
    (``mail_stuck``, ``count`` emails waiting); ``recovered`` when it has cleared. Flow names
    and counts only; ``day`` and ``time`` (local) say since when; ``link``: the workspace."""

    problem: Literal["late", "failed", "mail_stuck"]
    flow_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
    count: int = Field(default=0, ge=0)
    day: date
    time: Annotated[str, Field(pattern=r"^\d{2}:\d{2}$")]
    recovered: bool = False
    link: Link | None = None

    @model_validator(mode="before")
    @classmethod
    def _home_page(cls, data: Any) -> Any:
        return _with_link(data, lambda _d: home_link())


TEMPLATES: dict[str, type[Context]] = {
    "digest": DigestContext,
    "escalation": EscalationContext,
    "handoff_proposed": HandoffContext,
    "handoff_accepted": HandoffContext,
    "handoff_rejected": HandoffContext,
    "consent_withdrawn": ConsentWithdrawnContext,
    "sharing_withdrawn": PartnerContext,
    "partner_joined": PartnerContext,
    "test": SendTestContext,
    "login_code": LoginCodeContext,
    "appointment": AppointmentContext,
    "visit": VisitContext,
    "health_alert": HealthAlertContext,
}


def context_model(template: str) -> type[Context]:
    """The context model of ``template`` (``KeyError`` for an unknown name)."""
    return TEMPLATES[template]


def item_link(item_id: int) -> str:
    """The item's page in the web workspace: ``BASE/items/ID``."""
    return f"{workspace_url()}/items/{int(item_id)}"


def case_link(case_ref: str) -> str:
    """The case's page in the web workspace: ``BASE/cases/CASE_REF``."""
    return f"{workspace_url()}/cases/{quote(case_ref, safe='')}"


def home_link() -> str:
    """The web workspace's first page (the reader's own work)."""
    return f"{workspace_url()}/"


def signin_link(email: str, code: str, settings: Settings | None = None) -> str:
    """The workspace page that signs ``email`` in with ``code`` once its button is pressed
    (``/signin/link?e=EMAIL&c=CODE``; opening it alone signs nobody in)."""
    return f"{workspace_url(settings)}/signin/link?{urlencode({'e': email, 'c': code})}"


def with_signin_link(
    context: Mapping[str, Any], to: Sequence[str], settings: Settings | None = None
) -> dict[str, Any]:
    """A stored sign-in email's context with its link as the sender builds it: from the
    sender's own ``workspace_url`` and the message's one address, whatever link the row holds
    (none, since migration 0028: an app login that opened a challenge could otherwise have
    sent a code to a real staff member with a link of its own choosing). A row whose code was
    wiped gets no link."""
    code = context.get("code")
    link = signin_link(to[0], code, settings) if isinstance(code, str) and len(to) == 1 else None
    return {**context, "link": link}


def own_links(context: Any, base: str) -> Any:
    """``context`` (a stored row's, nested digest lines and groups included) with every
    ``link`` that does not lead into the workspace at ``base`` (``workspace_url()``) taken
    out: the model fills in its own page's link again (``item_link``, ``case_link``,
    ``home_link``), or leaves none. A row's context is whatever its inserter wrote; our own
    sender must not carry an app login's link to a real staff member (phishing)."""
    return _own_links(context, base + "/")


_SCALARS = frozenset({str, int, bool, float, type(None)})


def _own_links(context: Any, prefix: str) -> Any:
    if isinstance(context, Mapping):
        kept = {  # a plain value is kept as it is: no call for each (a drain builds thousands)
            name: value if type(value) in _SCALARS else _own_links(value, prefix)
            for name, value in context.items()
        }
        link = kept.get("link")
        if link is not None and not (isinstance(link, str) and link.startswith(prefix)):
            kept["link"] = None
        return kept
    if isinstance(context, list | tuple):
        return [_own_links(value, prefix) for value in context]
    return context


def _with_link(data: Any, link_for: Callable[[Mapping[str, Any]], str]) -> Any:
    """``data`` with its ``link`` filled in when missing (a row queued before links)."""
    if isinstance(data, Mapping) and data.get("link") is None:
        try:
            return {**data, "link": link_for(data)}
        except (KeyError, TypeError, ValueError):
            return data  # the field's own validation says what is wrong
    return data
