"""Every error a client or a command-line user can cause, and the one table that gives each its HTTP status and
code. Raised anywhere (storage, state, parameters); turned into ``{code, detail}`` by api.handlers, never by a
router. No web framework here, so storage code can raise these without importing one."""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from gis.errors import LayerError


class GridmapError(Exception):
    """A domain error with a message meant for the user; its status and code are in `ERRORS`, and `headers` are
    sent with it (e.g. Retry-After). `fields` are added to the ``{code, detail}`` body for a client to act on
    (e.g. the current version of a case)."""

    headers: dict[str, str] = {}
    fields: dict[str, object] = {}

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(GridmapError):
    """A street, community, grid, point or layer asked for by id or name is not stored."""


class InvalidParameter(GridmapError):
    """A value the API refuses; the message names it and says why."""


class DatabaseUnavailable(GridmapError):
    """The database does not answer."""


class NotComputed(GridmapError):
    """A result that is derived from the stored layers is not there yet, or cannot be computed from them yet."""


class CoverageUnavailable(NotComputed):
    """The stored layers cannot give a coverage (no walk network, no buildings)."""


class CentersUnavailable(NotComputed):
    """No 中心户 assignment is stored, or the stored layers cannot give one (no households, no walk network)."""


class ScenarioError(GridmapError, ValueError):
    """A scenario change names an unknown point or type, or a place off the map."""


class GridsError(GridmapError, ValueError):
    """A partition that cannot be made or stored (bad codes, targets the code cannot number)."""


class UnknownCommunity(GridsError):
    """The community to check or partition is not stored."""


class GridsConflict(GridsError):
    """The community already has grids: a partition would overlap them."""


class AccountError(GridmapError, ValueError):
    """An account that cannot be made or changed as asked: bad role, scope, login or password, unknown place."""


class DuplicateLogin(AccountError):
    """The login is taken (logins are compared without case)."""


class UnknownLogin(AccountError):
    """No account has this login (the CLI's disable and reset; sign-in never says so)."""


class NotAuthenticated(GridmapError):
    """No valid credentials: no token, an expired, tampered or revoked one, a disabled account, a wrong password.
    The detail never says which of these it was when that would tell whether a login exists."""

    headers = {"WWW-Authenticate": "Bearer"}


class SignInFirst(NotAuthenticated):
    """A map page asked for by someone not signed in: the browser is sent to /login, and back to `next` after."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in first: /login")
        self.headers = {"Location": "/login?" + urlencode({"next": next_path}), "Cache-Control": "no-store"}


class IdNumberTaken(GridmapError):
    """An ID number given for a resident is already stored (for someone anywhere: a person is stored once)."""


class InvalidPeriod(GridmapError):
    """A ledger's or KPI's period that cannot be: it ends before it starts, or spans more than a year."""


class Forbidden(GridmapError):
    """Signed in, but the role may not do this, or a cookie-authenticated write lacks its CSRF token."""


class TooManyAttempts(GridmapError):
    """Too many failed sign-ins for this login or from this address; `retry_after` seconds until the next try."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(max(1, retry_after))}


class InsecureConfiguration(Exception):
    """A setting that must not be served with (a missing or placeholder signing key outside development); stops
    start-up, so it is not an HTTP error and not in `ERRORS`."""


class ResidentDataError(GridmapError, ValueError):
    """Residents' data that cannot be taken as it is (an ID number, a phone, a register); personal data, so the
    message names the problem and the place (row, column), never more of the value than needed."""


class IdNumberError(ResidentDataError):
    """Not a valid resident ID number (公民身份号码): the message says which part is wrong."""


class PhoneError(ResidentDataError):
    """Not a mainland mobile number or a landline with its area code."""


class RegisterError(ResidentDataError):
    """A residents' register (花名册) refused whole: ``problems`` lists each (row, column, problem)."""

    def __init__(self, detail: str, problems: Sequence[tuple[int | None, str | None, str]] = ()) -> None:
        super().__init__(detail)
        self.problems = list(problems)


class UnknownHouseholds(RegisterError):
    """A register whose rows name households (楼栋, 单元, 房号) the community does not have, or more than one of:
    refused whole, since a resident stored under the wrong household would be looked after by the wrong people."""


class CaseConflict(GridmapError):
    """A change of a case (a hazard, a request) that conflicts with its current state or version."""


class StaleVersion(CaseConflict):
    """The version a change was made against is not the case's current one: someone else changed it first."""

    def __init__(self, detail: str, current_version: int) -> None:
        super().__init__(detail)
        self.fields = {"current_version": current_version}


class InvalidTransition(CaseConflict):
    """The action is not allowed from the case's current state."""

    def __init__(self, detail: str, state: str, action: str) -> None:
        super().__init__(detail)
        self.fields = {"state": state, "action": action}


class ClientIdConflict(GridmapError):
    """A client_id (made by a phone for an entry sent offline) already stored with a different content."""


class Unprocessable(GridmapError):
    """A well-formed body that refers to something not stored or not the user's: a photo not uploaded, an unknown
    category, a location in none of the user's grids."""


class UnknownPhoto(Unprocessable):
    """An entry refers by ``photo_sha256`` to a photo that was not uploaded (PUT /photos/{sha256} first)."""


class InvalidEntry(Unprocessable):
    """An entry (a visit, a photo) whose content the API refuses though its form is right: a time in the future, a
    photo whose bytes are not the type or hash it claims. The message names the field."""


class UnknownCategory(Unprocessable):
    """A hazard category (or another vocabulary's code) that is not stored or no longer active."""


class OutsideYourPlaces(Unprocessable):
    """A location in none of the user's grids."""


class PayloadTooLarge(GridmapError):
    """A body over its size limit (a photo over GRIDMAP_PHOTO_MAX_BYTES)."""


# The one place a status is chosen: the first class of an error's MRO found here gives its status and code.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    InvalidParameter: (400, "invalid_parameter"),
    DatabaseUnavailable: (503, "database_unavailable"),
    CoverageUnavailable: (409, "coverage_unavailable"),
    CentersUnavailable: (409, "centers_unavailable"),
    NotComputed: (409, "not_computed"),
    ScenarioError: (400, "invalid_parameter"),
    UnknownCommunity: (404, "not_found"),
    GridsConflict: (409, "grids_conflict"),
    GridsError: (400, "invalid_parameter"),
    LayerError: (400, "invalid_parameter"),  # a partition's grids fail the layer checks
    DuplicateLogin: (409, "duplicate_login"),
    UnknownLogin: (404, "not_found"),
    AccountError: (400, "invalid_parameter"),
    SignInFirst: (303, "sign_in_first"),
    NotAuthenticated: (401, "not_authenticated"),
    Forbidden: (403, "forbidden"),
    InvalidPeriod: (422, "invalid_period"),
    IdNumberTaken: (409, "id_number_taken"),
    TooManyAttempts: (429, "too_many_attempts"),
    UnknownHouseholds: (422, "unknown_households"),
    RegisterError: (422, "invalid_register"),
    ResidentDataError: (422, "invalid_resident_data"),
    StaleVersion: (409, "stale_version"),
    InvalidTransition: (409, "invalid_transition"),
    CaseConflict: (409, "conflict"),
    ClientIdConflict: (409, "client_id_conflict"),
    UnknownPhoto: (422, "unknown_photo"),
    UnknownCategory: (422, "unknown_category"),
    OutsideYourPlaces: (422, "outside_your_places"),
    InvalidEntry: (422, "invalid_entry"),
    Unprocessable: (422, "unprocessable"),
    PayloadTooLarge: (413, "payload_too_large"),
    GridmapError: (400, "error"),
}


def status_and_code(exc: BaseException) -> tuple[int, str] | None:
    """The status and code of a domain error from `ERRORS`; None for anything else (an unexpected error)."""
    for cls in type(exc).__mro__:
        if cls in ERRORS:
            return ERRORS[cls]
    return None


EXCERPT_CHARS = 40  # of a client's value repeated in an error message
MAX_PROBLEMS = 10  # validation problems listed in one 422 body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A client's value for an error message, cut to `limit` characters (strings quoted): a 50 MB value must not
    come back in a 50 MB error body."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(_cut(text, limit)) if isinstance(value, str) else _cut(text, limit)
    return shown if len(text) <= limit else f"{shown} ({len(text)} characters)"


def validation_detail(errors: Sequence[Any]) -> str:
    """The 422 detail: each problem names its parameter and repeats at most an excerpt of the value sent."""
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        where = ".".join(_cut(str(p), EXCERPT_CHARS) for p in error["loc"] if p not in ("query", "path", "body"))
        problem = f"{where or 'body'}: {_cut(str(error['msg']), 200)}"
        value = error.get("input")
        if isinstance(value, str | int | float) and not isinstance(value, bool) and error["type"] != "missing":
            problem += f" (got {excerpt(value)})"
        problems.append(problem)
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(problems)
