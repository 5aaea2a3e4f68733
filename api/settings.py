"""Settings in one place, read from the environment (prefix ``GRIDMAP_``) or a ``.env`` file."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.defaults import LEVELS, MAX_SNAP_M, PROFILES

PROJECT_ROOT = Path(__file__).resolve().parents[1]


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
        description="Base map: 'openstreetmap', 'none' (closed networks), or a tile URL template.",
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
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest request body (413 above it). The largest legitimate body, a 50-change "
        "/coverage/scenario, is under 20 kB; layer files are imported by the CLI.",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` instead)."""
    return Settings()
