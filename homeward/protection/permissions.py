"""Who may do what: one table of action x organisation kind x staff role, and the relation each
action needs between the actor's organisation and what it acts on.

The owner organisation steers its case (stages, consents, transfers, holds); a partner works
only on its own checklist items and on the handoffs addressed to it; ANITP and the police take
part read-only. Every engine write path asks ``ensure`` (or ``ensure_item``); visibility (which
cases an organisation sees at all) stays in ``homeward.protection.access``. The directory (its
organisations, staff and mailboxes) is kept by administrators, who do no casework: the last two
rows, applied by ``homeward.protection.administrators``. README renders ``RULES``
(``homeward staff permissions``; a test keeps the copy current).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from homeward.base.errors import Refused
from homeward.base.models import Case, ChecklistItem, Organisation, OrgKind, StaffMember, StaffRole


class Action(StrEnum):
    OPEN_CASE = "open_case"
    FIRE_TRIGGER = "fire_trigger"
    CHANGE_CONSENT = "change_consent"
    ENTER_PERSON = "enter_person"
    READ_PERSON = "read_person"
    READ_NOTES = "read_notes"
    RECORD_OWN_ITEM = "record_own_item"
    ASSIGN_OWN_ITEM = "assign_own_item"
    HAND_OFF_OWN_ITEM = "hand_off_own_item"
    WORK_ANY_ITEM = "work_any_item"
    ANSWER_HANDOFF = "answer_handoff"
    TRANSFER_CASE = "transfer_case"
    ANSWER_TRANSFER = "answer_transfer"
    LEGAL_HOLD = "legal_hold"
    DECIDE_CLOSURE = "decide_closure"
    RUN_REPORTS = "run_reports"
    EXPORT_CASES = "export_cases"
    MANAGE_STAFF = "manage_staff"
    MANAGE_DIRECTORY = "manage_directory"
    REVIEW_RISK = "review_risk"
    KEEP_SERVICES = "keep_services"
    FIX_MAIL = "fix_mail"


class Relation(StrEnum):
    """What the actor's organisation must be to what it acts on."""

    OWN_ORG = "for its own organisation"
    OWNER = "the case's owner"
    PARTY = "owner, or partner with sharing consent"
    CONCERNED = "owner, or, with sharing consent, the organisation it concerns"
    ITEM = "the item's organisation"
    ADDRESSEE = "the organisation it is offered to"
    ANY_ORG = "any organisation"


@dataclass(frozen=True)
class Rule:
    """Who may do one action: staff of these roles in organisations of these kinds."""

    does: str  # in words, for refusals and the README
    relation: Relation
    kinds: frozenset[OrgKind]
    roles: frozenset[StaffRole]


C, W, S, M = StaffRole.COORDINATOR, StaffRole.CASEWORKER, StaffRole.SUPERVISOR, StaffRole.MANAGER
A, P = StaffRole.ADMIN, StaffRole.PLATFORM_ADMIN
STEER, WORK, MANAGE, EXPORT = frozenset({C, S}), frozenset({C, W, S}), frozenset({C, S, M}), {S, M}
# ANITP and the police take part read-only: they are in no row that changes a case.
CASEWORK_KINDS = frozenset({OrgKind.IOM_MISSION, OrgKind.CONSULATE, OrgKind.NGO, OrgKind.DGASPC})
ALL_KINDS = frozenset(OrgKind)
R = Relation

RULES: dict[Action, Rule] = {
    Action.OPEN_CASE: Rule("open cases", R.OWN_ORG, CASEWORK_KINDS, STEER),
    Action.FIRE_TRIGGER: Rule("move the case between stages", R.OWNER, CASEWORK_KINDS, STEER),
    Action.CHANGE_CONSENT: Rule("give or withdraw consent", R.OWNER, CASEWORK_KINDS, STEER),
    Action.ENTER_PERSON: Rule("enter the person's data", R.OWNER, CASEWORK_KINDS, WORK),
    Action.READ_PERSON: Rule("read personal data", R.PARTY, CASEWORK_KINDS, WORK),
    Action.READ_NOTES: Rule("read free-text notes", R.CONCERNED, CASEWORK_KINDS, WORK),
    Action.RECORD_OWN_ITEM: Rule("record its own items", R.ITEM, CASEWORK_KINDS, WORK),
    Action.ASSIGN_OWN_ITEM: Rule("assign its own items", R.ITEM, CASEWORK_KINDS, WORK),
    Action.HAND_OFF_OWN_ITEM: Rule("hand off its own items", R.ITEM, CASEWORK_KINDS, WORK),
    Action.WORK_ANY_ITEM: Rule(
        "record, assign or hand off any item of the case", R.OWNER, CASEWORK_KINDS, STEER
    ),
    Action.ANSWER_HANDOFF: Rule("answer an item handoff", R.ADDRESSEE, CASEWORK_KINDS, WORK),
    Action.TRANSFER_CASE: Rule("hand the case over", R.OWNER, CASEWORK_KINDS, STEER),
    Action.ANSWER_TRANSFER: Rule("answer a case transfer", R.ADDRESSEE, CASEWORK_KINDS, STEER),
    Action.LEGAL_HOLD: Rule("place or lift a legal hold", R.OWNER, CASEWORK_KINDS, frozenset({S})),
    Action.DECIDE_CLOSURE: Rule(
        "approve or reject a closure request", R.OWNER, CASEWORK_KINDS, frozenset({S})
    ),
    Action.RUN_REPORTS: Rule("manage programmes and run reports", R.OWN_ORG, ALL_KINDS, MANAGE),
    Action.EXPORT_CASES: Rule("export case-level data", R.OWN_ORG, ALL_KINDS, frozenset(EXPORT)),
    Action.MANAGE_STAFF: Rule(
        "add, change or deactivate staff, set the mailbox", R.OWN_ORG, ALL_KINDS, frozenset({A, P})
    ),
    Action.MANAGE_DIRECTORY: Rule(
        "add organisations, keep any organisation's staff and mailbox, appoint platform_admins",
        R.ANY_ORG,
        ALL_KINDS,
        frozenset({P}),
    ),
    Action.REVIEW_RISK: Rule(
        "review a risk assessment (not one they recorded)", R.OWNER, CASEWORK_KINDS, frozenset({S})
    ),
    Action.KEEP_SERVICES: Rule(
        "keep its offers in the service directory (platform_admin: any organisation's)",
        R.OWN_ORG,
        ALL_KINDS,
        frozenset({C, S, A, P}),
    ),
    Action.FIX_MAIL: Rule(
        "retry or redirect mail its staff's mail server refused (platform_admin: anyone's)",
        R.OWN_ORG,
        ALL_KINDS,
        frozenset({C, S, A, P}),
    ),
}
ITEM_VERBS = {
    Action.RECORD_OWN_ITEM: "record",
    Action.ASSIGN_OWN_ITEM: "assign",
    Action.HAND_OFF_OWN_ITEM: "hand off",
}


def allowed(kind: str, role: str, action: Action) -> bool:
    """Whether staff of ``role`` in an organisation of ``kind`` may do ``action`` at all."""
    rule = RULES[action]
    return kind in rule.kinds and role in rule.roles


def roles_text(roles: frozenset[StaffRole]) -> str:
    """``a coordinator, caseworker or supervisor``: the roles in the enum's order."""
    names = [r.value for r in StaffRole if r in roles]
    return role_text(f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0])


def org_text(org: Organisation) -> str:
    """``IOM Italy (iom-it)``: an organisation as refusals name it."""
    return f"{org.name} ({org.slug})"


_HELD = "homeward.orgs_held"  # session.info: the organisations ``_org`` loaded


def _org(session: Session, org_id: int) -> Organisation:
    # Held until the transaction ends: the session's identity map keeps objects only while
    # something refers to them, so each check would otherwise load the row again.
    held: dict[int, Organisation] = session.info.setdefault(_HELD, {})
    org = held.get(org_id) or session.get(Organisation, org_id)
    assert org is not None  # noqa: S101 (a foreign key)
    held[org_id] = org
    return org


@event.listens_for(OrmSession, "after_commit")
@event.listens_for(OrmSession, "after_rollback")
def _let_go(session: OrmSession) -> None:
    session.info.pop(_HELD, None)


def role_text(role: str) -> str:
    """``a coordinator``, ``an admin``: a role with its article."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def _who(actor: StaffMember, org: Organisation) -> str:
    read_only = "" if org.kind in CASEWORK_KINDS else ", which takes part read-only,"
    return f"{role_text(actor.role)} of {org_text(org)}{read_only}"


def who_text(session: Session, actor: StaffMember) -> str:
    """``a coordinator of IOM Italy (iom-it)``: the actor as refusals name them."""
    return _who(actor, _org(session, actor.org_id))


def owner_staff(session: Session, case: Case, action: Action) -> str:
    """``a coordinator or supervisor of IOM Italy (iom-it), the case's owner``: whom to ask."""
    owner = _org(session, case.owner_org_id)
    return f"{roles_text(RULES[action].roles)} of {org_text(owner)}, the case's owner"


def permits(session: Session, actor: StaffMember, action: Action, case: Case | None = None) -> bool:
    """Whether the table lets ``actor`` do ``action`` (on ``case``, as its owner when the
    action needs that): ``ensure`` without the refusal."""
    org, rule = _org(session, actor.org_id), RULES[action]
    is_owner = case is not None and case.owner_org_id == actor.org_id
    return allowed(org.kind, actor.role, action) and (rule.relation != R.OWNER or is_owner)


def ensure(session: Session, actor: StaffMember, action: Action, case: Case | None = None) -> None:
    """Raise ``Refused`` unless the table lets ``actor`` do ``action`` (on ``case``, as its
    owner when the action needs that). Addressee and party relations are the caller's to
    check (a handoff's receiver, the vault's fields by part); this checks kind and role."""
    if permits(session, actor, action, case):
        return
    org, rule = _org(session, actor.org_id), RULES[action]
    if case is not None and rule.relation in (R.OWNER, R.PARTY, R.CONCERNED):
        who = owner_staff(session, case, action)
        raise Refused(f"{_who(actor, org)} cannot {rule.does} on case {case.case_ref}; ask {who}")
    whose = (
        "your organisation" if org.kind in rule.kinds else "an organisation assisting the person"
    )
    raise Refused(f"{_who(actor, org)} cannot {rule.does}; ask {roles_text(rule.roles)} of {whose}")


def permits_item(
    session: Session, actor: StaffMember, action: Action, case: Case, item: ChecklistItem
) -> bool:
    """Whether ``actor`` may do ``action`` (one of ``ITEM_VERBS``) on ``item``: ``ensure_item``
    without the refusal (a page offers only the actions this allows)."""
    org = _org(session, actor.org_id)
    if actor.org_id == item.owner_org_id and allowed(org.kind, actor.role, action):
        return True
    return actor.org_id == case.owner_org_id and allowed(org.kind, actor.role, Action.WORK_ANY_ITEM)


def ensure_item(
    session: Session, actor: StaffMember, action: Action, case: Case, item: ChecklistItem
) -> None:
    """Raise ``Refused`` unless ``actor`` may do ``action`` (one of ``ITEM_VERBS``) on
    ``item``: as staff of the item's organisation, or as the case owner's steering staff."""
    if permits_item(session, actor, action, case, item):
        return
    org = _org(session, actor.org_id)
    item_org, ask = _org(session, item.owner_org_id), roles_text(RULES[action].roles)
    whom = owner_staff(session, case, Action.WORK_ANY_ITEM)
    if item.owner_org_id == case.owner_org_id:
        whom = f"{ask} of {org_text(item_org)}, which owns the item and the case"
    elif item_org.kind in RULES[action].kinds:  # not ANITP's or the police's: they read only
        whom = f"{ask} of {org_text(item_org)}, the item's organisation, or {whom}"
    raise Refused(
        f"{_who(actor, org)} cannot {ITEM_VERBS[action]} item #{item.id} of case "
        f"{case.case_ref}; ask {whom}"
    )


KIND_COLUMNS = list(OrgKind)
INITIALS = {C: "C", W: "W", S: "S", M: "M", A: "A", P: "P"}


def markdown_table() -> str:
    """``RULES`` as the README shows it: one row per action, one column per organisation kind."""
    head = ["action", "who (relation)", *KIND_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for action, rule in RULES.items():
        cells = [
            " ".join(INITIALS[r] for r in StaffRole if allowed(kind, r, action)) or "—"
            for kind in KIND_COLUMNS
        ]
        lines.append(f"| `{action}`: {rule.does} | {rule.relation} | " + " | ".join(cells) + " |")
    legend = (
        "C coordinator, W caseworker, S supervisor, M manager, A admin (organisation "
        "administrator), P platform_admin (platform administrator); — nobody."
    )
    return "\n".join([*lines, "", legend])
