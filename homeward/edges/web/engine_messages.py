"""Words and messages of the engine the workspace's pages show, for the catalog (``N_``).

The engine writes its messages in English, with values (case references, numbers, quoted
words) in them; ``deps.translate_error`` looks each up with its values written ``{0}``,
``{1}``... in order. Listed here so that ``pybabel extract`` puts them in the catalog and the
catalog test holds them to a Romanian translation. A message not listed is shown in English
under a translated lead ("Not allowed now.").
"""

from __future__ import annotations

from homeward.edges.web.i18n import N_

# A staff member's role, as the page header names it (``StaffRole``).
ROLES = {
    "coordinator": N_("coordinator"),
    "caseworker": N_("caseworker"),
    "supervisor": N_("supervisor"),
    "manager": N_("manager"),
    "admin": N_("administrator"),
    "platform_admin": N_("platform administrator"),
}

MESSAGES = (
    N_("owner: choose one of me, unassigned, others"),
    N_("language: choose one of en, ro"),
    N_("code: type the {0}-digit code from the sign-in email"),
    N_(
        "email: {0} sign-in codes were asked for in the last hour; use the newest one, "
        "or try again later"
    ),
    N_("case {0} not found; see {1}"),
)
