"""Visit rules (走访规则, 三必到五必访): the rules in force in a community — its own, and the defaults it does not
replace — and a community's own rules replaced as a whole by its secretary, its street's leader or an admin
(audited). Rules hold no personal data; who may read them is still limited to the community's own people."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.access import FIELD_READERS, MANAGING, audit, in_places
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, require_role
from api.errors import InvalidEntry, NotFound
from api.storage import Connection, transaction, user_scope
from api.storage import households as households_db
from api.storage import visits as visits_db
from api.storage.places import place_id_by_code
from api.visits.rules import RULE_ROLES, VISIT_KINDS, Rule, check_rule_set, effective_rules
from gis.workload import ALL_TAGS

router = APIRouter(prefix="/visit-rules", tags=["visits 走访"], dependencies=[Depends(require_role(*FIELD_READERS))])

CommunityCode = Annotated[str, Query(pattern=r"^\d{12}$", description="A community's 12-digit code")]
MAX_RULES = 200
Tag = Literal[ALL_TAGS]  # type: ignore[valid-type]
RuleRole = Literal[RULE_ROLES]  # type: ignore[valid-type]
Kind = Literal[VISIT_KINDS]  # type: ignore[valid-type]


class RuleIn(BaseModel):
    """A community's own rule: visits of `role` count, every `interval_days`, for households tagged `tag`."""

    model_config = ConfigDict(extra="forbid")
    tag: Tag
    role: RuleRole
    kind: Kind = "routine"
    interval_days: Annotated[int, Field(ge=1, le=3660)]
    active: bool = True
    label: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = None


def shown(rule: Rule) -> dict:
    return {
        "id": rule.id,
        "scope": "default" if rule.community_id is None else "community",
        "tag": rule.tag,
        "role": rule.role,
        "kind": rule.kind,
        "interval_days": rule.interval_days,
        "active": rule.active,
        "label": rule.label,
    }


def community_of(conn: Connection, code: str, principal: Principal) -> int:
    """The id of one of the user's communities (a party member: of their 中心户's households); else 404 as for a
    code not stored."""
    community_id = place_id_by_code(conn, "community", code)
    if community_id is not None:
        if principal.role == "party_member":
            households = households_db.user_household_ids(conn, principal.user_id)
            if community_id in visits_db.communities_of_households(conn, households):
                return community_id
        elif in_places(conn, principal, "community", community_id):
            return community_id
    raise NotFound(f"no community {code}")


def _answer(conn: Connection, community_id: int | None, code: str | None) -> dict:
    rules = effective_rules(visits_db.rules_of(conn, [] if community_id is None else [community_id]), community_id)
    return {"community_code": code, "rules": [shown(r) for r in rules]}


@router.get("")
def get_rules(engine: EngineDep, principal: PrincipalDep, community_code: CommunityCode | None = None) -> dict:
    """The rules in force in a community (without one: the defaults). ``scope`` says whether a rule is the
    community's own or a default; an own rule replaces the default of the same tag, role and kind, and an inactive
    one switches it off."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        community_id = None if community_code is None else community_of(conn, community_code, principal)
        return _answer(conn, community_id, community_code)


@router.put("/{community_code}", dependencies=[Depends(require_role(*MANAGING))])
def put_rules(
    community_code: Annotated[str, Path(pattern=r"^\d{12}$")],
    rules: Annotated[list[RuleIn], Body(max_length=MAX_RULES)],
    engine: EngineDep,
    principal: PrincipalDep,
) -> dict:
    """Replace the community's own rules with these (an empty list: the defaults again). Allowed for admins, the
    leader of its street and its secretary; audited."""
    problems = check_rule_set((r.tag, r.role, r.kind, r.interval_days) for r in rules)
    if problems:
        raise InvalidEntry("; ".join(problems))
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        community_id = community_of(conn, community_code, principal)
        ids = visits_db.replace_community_rules(conn, community_id, [r.model_dump() for r in rules])
        audit(conn, principal, "update", "visit_rules", ids, detail={"community_id": community_id, "rules": len(ids)})
        return _answer(conn, community_id, community_code)
