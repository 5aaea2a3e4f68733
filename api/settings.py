"""Settings in one place, read from the environment (prefix ``GRIDMAP_``) or a ``.env`` file, and the secrets
derived from them that more than one part of gridmap checks the same way (the key for ID-number hashes)."""

import logging
import os
import secrets
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.errors import InsecureConfiguration
from gis.defaults import LEVELS, MAX_SNAP_M, PROFILES
from maps.basemaps import BaseMap, make_base_map

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ID_HASH_KEY_FILE = PROJECT_ROOT / ".gridmap" / "id_hash_key"  # development only; .gridmap/ is git-ignored
MIN_KEY_BYTES = 32
HASH_MIN_KEY_BYTES = 16  # api.residents.idcard refuses shorter keys outright
# Keys that are examples, not secrets: the ones in .env.example and the usual suspects.
PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "your-secret", "secret-key", "xxxxxxxx")
MAKE_ONE = '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'

logger = logging.getLogger("gridmap")


def _recorded_database_url() -> str:
    """The URL scripts/db.sh wrote (a local server or the private cluster), else the usual local default."""
    recorded = PROJECT_ROOT / ".gridmap" / "database_url"
    if recorded.is_file():
        return recorded.read_text().strip()
    return "postgresql+psycopg2://postgres@127.0.0.1:5432/gridmap"


class Settings(BaseSettings):
    """gridmap's settings; see ``.env.example`` for every variable."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default_factory=lambda: _recorded_database_url(),
        description="SQLAlchemy URL of the PostGIS database; when unset, the one scripts/db.sh recorded.",
    )
    app_database_url: str | None = Field(
        default=None,
        description="The server's connection, as the role gridmap_app that `gridmap db init` creates (it cannot "
        "bypass row-level security); when unset, GRIDMAP_DATABASE_URL's server and database as gridmap_app with no "
        "password. The CLI and migrations use GRIDMAP_DATABASE_URL (the owner).",
    )
    tiles: str = Field(
        default="openstreetmap",
        description="Base map (底图): 'openstreetmap', 'tianditu' (needs tianditu_key), 'amap' (GCJ-02: what is drawn "
        "is shifted), 'none' (closed networks), or the URL template of a tile server with {z}/{x}/{y} (and {s}), "
        "which needs tiles_attribution.",
    )
    tiles_attribution: str | None = Field(
        default=None, description="Credit shown for a tile URL template (HTML), e.g. '© 某区规划局'; required for one."
    )
    tianditu_key: str | None = Field(
        default=None, description="Tianditu browser key (天地图 浏览器端 key) for tiles='tianditu'; in the page."
    )
    output_dir: Path = Field(default=PROJECT_ROOT / "output", description="Where the CLI writes maps.")
    page_size_max: int = Field(default=5000, ge=1, description="Largest page a GeoJSON endpoint serves.")
    walk_profiles: dict[str, float] = Field(
        default_factory=lambda: dict(PROFILES),
        description="Walking speed in m/s per profile (JSON); coverage levels are thresholds on walking metres.",
    )
    coverage_levels: tuple[float, ...] = Field(
        default=LEVELS, description="Life-circle levels in minutes (GB 50180-2018: 5/10/15), as a JSON list."
    )
    max_snap_m: float = Field(
        default=MAX_SNAP_M,
        gt=0,
        description="A building, service point or household farther than this from every road is off-network.",
    )
    map_cache_mb: float = Field(
        default=64,
        ge=0,
        description="Rendered map pages kept per process, in MB of HTML (0: none kept); a larger page is not kept.",
    )
    map_cache_entries: int = Field(default=32, ge=0, description="Rendered map pages kept per process, at most.")
    tile_cache_mb: float = Field(
        default=64,
        ge=0,
        description="Vector tiles of the non-personal layers kept per process, in MB (0: none kept).",
    )
    db_pool_size: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Database connections the server keeps open: about as many as requests it serves at once "
        "(uvicorn's threadpool runs 40); PostgreSQL's max_connections must allow it for every server process.",
    )
    db_max_overflow: int = Field(default=20, ge=0, le=200, description="Connections opened beyond the pool at peaks.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        default=1,
        ge=1,
        le=32,
        description="Server processes of `gridmap serve` (uvicorn's workers): one Python process uses one CPU core, "
        "so about as many as the cores the API may use. Each keeps its own caches (maps, tiles, walk networks, "
        "coverage) and database pool, and all must share GRIDMAP_SECRET_KEY.",
    )
    allowed_hosts: list[str] = Field(
        default=["127.0.0.1", "localhost", "::1", "testserver"],
        description="Host names the API answers to (JSON list; '*.example.org' patterns, '*' for any); refusing "
        "others stops DNS rebinding. `host` is added unless it is 0.0.0.0. 'testserver' is the test client's.",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        description="'production' refuses to start without a proper secret_key; 'development' makes one up.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs access tokens and CSRF tokens: at least 32 random bytes, the same for every server "
        "process. Unset in development: a random key per process (tokens do not survive a restart).",
    )
    access_token_minutes: int = Field(default=15, ge=1, le=15, description="Lifetime of an access token.")
    refresh_token_days: int = Field(
        default=7, ge=1, le=90, description="Lifetime of a refresh token and of a browser session."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark the session cookie Secure even when the request came over plain HTTP (behind a proxy "
        "that terminates TLS); over HTTPS it is always Secure.",
    )
    sign_in_window_minutes: int = Field(default=15, ge=1, le=1440, description="Window the sign-in limits count in.")
    sign_in_max_per_login: int = Field(
        default=5, ge=1, description="Failed sign-ins for one login within the window before 429."
    )
    sign_in_max_per_address: int = Field(
        default=20, ge=1, description="Failed sign-ins from one address within the window before 429."
    )
    id_hash_key: SecretStr | None = Field(
        default=None,
        description="Key of the hashes that stand for residents' ID numbers (HMAC-SHA256): at least 32 random bytes, "
        "never changed once residents are stored (re-imports find people by it). Unset in development: one kept in "
        ".gridmap/id_hash_key, made on first use.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest request body (413 above it). The largest legitimate body, a 50-change "
        "/coverage/scenario, is under 20 kB; layer files are imported by the CLI.",
    )
    open311_public_reads: bool = Field(
        default=True,
        description="Open311 GET requests without an api_key: answered with service, status, times, agency and the "
        "grid's point only (true), or refused with 403 (false). With a partner's key: its own requests in full.",
    )

    photo_max_bytes: int = Field(
        default=5 * 2**20, ge=1024, le=50 * 2**20, description="Largest photo (PUT /photos/{sha256}; 413 above it)."
    )
    visit_future_minutes: float = Field(
        default=5.0, ge=0, le=1440, description="How far in the future a visit's time may lie (a phone's clock)."
    )
    visit_far_m: float = Field(
        default=200.0, gt=0, description="A visit's GPS point farther than this from the household's building: flagged."
    )
    visits_since: date | None = Field(
        default=None,
        description="The day visits started being counted: a household never visited is due since then. Default: "
        "1 January of the current year (China time).",
    )
    visit_batch_max: int = Field(default=100, ge=1, le=1000, description="Most visits in one POST /visits/batch.")
    tour_max_stops: int = Field(
        default=30,
        ge=2,
        le=500,
        description="Buildings in the walking order of GET /visits/due: the most overdue first, a day's round.",
    )
    tour_time_limit_ms: float = Field(
        default=20.0, gt=0, le=10_000, description="Time cap of the walking-order search of GET /visits/due."
    )

    _base_map: BaseMap = PrivateAttr()

    @model_validator(mode="after")
    def _check_base_map(self) -> "Settings":
        self._base_map = make_base_map(self.tiles, attribution=self.tiles_attribution, tianditu_key=self.tianditu_key)
        return self

    @property
    def base_map(self) -> BaseMap:
        """The base map of GRIDMAP_TILES (and its key or attribution), checked when the settings were read."""
        return self._base_map


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()


def key_weakness(key: str) -> str | None:
    """Why `key` will not do as a secret (too short, a placeholder, too few distinct characters), or None."""
    if len(key.encode()) < MIN_KEY_BYTES:
        return f"is shorter than {MIN_KEY_BYTES} bytes"
    lowered = key.lower()
    if any(p in lowered for p in PLACEHOLDERS) or len(set(key)) < 8:
        return "is a placeholder"
    return None


def id_hash_key(settings: Settings, *, key_file: Path = ID_HASH_KEY_FILE) -> bytes:
    """The key of ID-number hashes. Outside development a missing, short or placeholder GRIDMAP_ID_HASH_KEY stops
    the caller (`InsecureConfiguration`, one line). In development without one, the key in `key_file` (made once,
    mode 0600): hashes must stay the same from run to run, since re-imports find people by them."""
    key = settings.id_hash_key.get_secret_value() if settings.id_hash_key else ""
    weakness = "is not set" if not key else key_weakness(key)
    if weakness and (settings.environment != "development" or (key and len(key.encode()) < HASH_MIN_KEY_BYTES)):
        raise InsecureConfiguration(
            f"GRIDMAP_ID_HASH_KEY {weakness}: set it to at least {MIN_KEY_BYTES} random bytes, e.g. the output of "
            f"{MAKE_ONE}, and keep it: hashes made with another key do not match (GRIDMAP_ENVIRONMENT="
            f"{settings.environment})"
        )
    if key:
        if weakness:
            logger.warning("GRIDMAP_ID_HASH_KEY %s; acceptable in development only", weakness)
        return key.encode()
    return _development_key(key_file)


def _development_key(path: Path) -> bytes:
    """The key kept in `path`, made (random, owner-only) when there is none yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by a command running at the same time: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            logger.warning("GRIDMAP_ID_HASH_KEY is not set: made a key for development in %s", path.name)
    key = path.read_text().strip()
    if len(key.encode()) < MIN_KEY_BYTES:
        raise InsecureConfiguration(
            f"the development key in .gridmap/{path.name} is shorter than {MIN_KEY_BYTES} bytes: delete it (a new one "
            "is made) or set GRIDMAP_ID_HASH_KEY"
        )
    return key.encode()
