"""Roles, the places (scopes) each needs, and the signed-in user as the rest of gridmap sees them (`Principal`).

Pure: no database, no HTTP. Whether a scope's code names a stored place is checked by api.storage.accounts."""

import unicodedata
from dataclasses import dataclass

from api.errors import AccountError

ROLES = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member", "planner")
LEVELS = ("street", "community", "grid")
LOGIN_MAX = 64

# The scope levels a role may hold, and whether it needs at least one (admin sees everything and holds none).
ROLE_LEVELS: dict[str, tuple[str, ...]] = {
    "admin": (),
    "street_leader": ("street",),
    "community_secretary": ("community",),
    "grid_worker": ("grid",),
    "party_member": ("grid",),
    "planner": ("street", "community"),
}
ROLE_LABELS = {
    "admin": "管理员",
    "street_leader": "街道领导",
    "community_secretary": "社区书记",
    "grid_worker": "网格员",
    "party_member": "党员",
    "planner": "规划人员",
}

Scope = tuple[str, str]  # (level, code), e.g. ("grid", "110105001001001")


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: loaded from the database on every request (a disabled account stops at once), and
    what row-level security is set from."""

    user_id: int
    login: str
    role: str
    scopes: tuple[Scope, ...]
    center_household_id: int | None = None
    can_unmask: bool = False  # may read residents' data unmasked (with a reason, audited)

    def codes(self, level: str) -> tuple[str, ...]:
        """The codes of the places at `level` this user is scoped to."""
        return tuple(code for lvl, code in self.scopes if lvl == level)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return role


def parse_scope(text: str) -> Scope:
    """``LEVEL:CODE`` as (level, code): the level one of street, community, grid; the code digits."""
    level, sep, code = text.partition(":")
    level, code = level.strip().lower(), code.strip()
    if not sep or level not in LEVELS or not code:
        raise AccountError(f"a scope is LEVEL:CODE with LEVEL one of {', '.join(LEVELS)}; got {text[:80]!r}")
    if not (code.isascii() and code.isdigit() and len(code) <= 20):
        raise AccountError(f"a scope's code is the place's code in digits; got {code[:80]!r}")
    return level, code


def check_scopes(role: str, scopes: list[Scope], center_household_id: int | None = None) -> list[Scope]:
    """What `role` requires: its scope levels only, at least one scope for every role but admin, and a 中心户 only
    for a party member. Returns the scopes without duplicates, in order."""
    allowed = ROLE_LEVELS[check_role(role)]
    wrong = [f"{level}:{code}" for level, code in scopes if level not in allowed]
    if wrong:
        holds = " or ".join(allowed) + " scopes" if allowed else "no scopes"
        raise AccountError(f"role {role} holds {holds}; got {', '.join(wrong)}")
    if allowed and not scopes:
        raise AccountError(f"role {role} needs at least one --scope {'|'.join(allowed)}:CODE")
    if center_household_id is not None and role != "party_member":
        raise AccountError(f"only a party_member has a center household; role is {role}")
    return list(dict.fromkeys(scopes))


def check_login(login: str) -> str:
    """A login is data: any printable characters but spaces, at most 64 (NFC-normalised, so that the same name
    typed on two keyboards is one login)."""
    login = unicodedata.normalize("NFC", login)
    if not login:
        raise AccountError("the login is empty")
    if len(login) > LOGIN_MAX:
        raise AccountError(f"a login has at most {LOGIN_MAX} characters; got {len(login)}")
    if any(ch.isspace() or not ch.isprintable() for ch in login):
        raise AccountError(f"a login has no spaces or control characters; got {login!r}")
    return login
