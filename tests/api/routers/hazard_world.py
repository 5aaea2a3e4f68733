"""The sample street with one account per kind of hazard user, for the hazard API tests: who is where, points
inside each grid, hazards put straight into any state, and the counts that must not move when a request is
refused."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.accounts.roles import parse_scope
from api.accounts.users import put_user
from api.main import create_app
from api.settings import Settings
from api.storage import SYSTEM, transaction
from tests.conftest import sample_loaded
from tests.signing import PASSWORD

KEY = "a signing key for the hazard tests, 0123456789abcdef"
HOSTILE = '<script>window.__pwned=1</script>{{7*7}}\'; DROP TABLE hazards; --\n\t"引号" 😀 \u202e ${jndi:x}'


@dataclass
class World:
    engine: Engine
    settings: Settings
    client: TestClient
    headers: dict[str, dict]
    users: dict[str, int]
    grids: dict[str, int]  # g1, g1b (community a), g2 (community b)
    codes: dict[str, str]  # grid and community codes
    points: dict[str, list[float]]  # a point inside each grid
    buildings: dict[str, int]  # a building of each grid
    households: dict[str, int]  # a household of each grid
    extra: dict = field(default_factory=dict)

    def call(self, who: str | None, method: str, path: str, **kwargs):
        return self.client.request(method, path, headers=self.headers.get(who or "", {}), **kwargs)

    def counts(self) -> tuple[int, int, int]:
        """Hazards, history rows and audit entries about hazards: what a refused request must leave alone."""
        with transaction(self.engine, scope=SYSTEM) as conn:
            return (
                conn.scalar(text("SELECT count(*) FROM hazards")),
                conn.scalar(text("SELECT count(*) FROM hazard_history")),
                conn.scalar(text("SELECT count(*) FROM audit_log WHERE object_table = 'hazards'")),
            )

    def make(
        self,
        states: list[str],
        *,
        grid: str = "g1",
        reporter: str = "member",
        assignee: str | None = "worker",
        category: str = "gas",
    ) -> list[int]:
        """Hazards put straight into `states` (version 1, with their history row), reported by `reporter` in
        `grid` and dispatched to `assignee`; a suspended one was suspended from dispatched."""
        sql = """
        INSERT INTO hazards (category, grid_id, location, description, state, version, reported_by, deadline,
                             assigned_user_id, resume_state, suspended_at, closed_at)
        SELECT :category, :grid, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'made for a test: ' || s.state,
               s.state, 1, :reporter, now() + interval '1 day', :assignee,
               CASE WHEN s.state = 'suspended' THEN 'dispatched' END, CASE WHEN s.state = 'suspended' THEN now() END,
               CASE WHEN s.state IN ('closed', 'rejected') THEN now() END
        FROM unnest(CAST(:states AS text[])) WITH ORDINALITY AS s(state, n) ORDER BY s.n
        RETURNING id
        """
        lon, lat = self.points[grid]
        params = {
            "category": category,
            "grid": self.grids[grid],
            "lon": lon,
            "lat": lat,
            "reporter": self.users[reporter],
            "assignee": None if assignee is None else self.users[assignee],
            "states": states,
        }
        with transaction(self.engine, scope=SYSTEM) as conn:
            ids = list(conn.scalars(text(sql), params))
            conn.execute(
                text(
                    "INSERT INTO hazard_history (case_id, version, action, to_state, user_id, role) "
                    "SELECT id, 1, 'report', 'reported', reported_by, 'party_member' FROM hazards "
                    "WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        return ids

    def sql(self, statement: str, **params):
        with transaction(self.engine, scope=SYSTEM) as conn:
            result = conn.execute(text(statement), params)
            return result.all() if result.returns_rows else []


ACCOUNTS = {
    # login: (role, scopes by place key)
    "admin": ("admin", []),
    "leader": ("street_leader", ["street"]),
    "secretary": ("community_secretary", ["community:a"]),
    "secretary_b": ("community_secretary", ["community:b"]),
    "worker": ("grid_worker", ["grid:g1"]),
    "worker2": ("grid_worker", ["grid:g1"]),
    "other_worker": ("grid_worker", ["grid:g2"]),
    "member": ("party_member", ["grid:g1"]),
    "planner": ("planner", ["street"]),
}


def _places(engine: Engine) -> tuple[dict, dict, dict, dict, dict]:
    """Two communities with two grids of households each: grids g1 and g1b in a, g2 in b."""
    with engine.begin() as conn:
        street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
        (a, a_code), (b, b_code) = conn.execute(
            text(
                "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                "WHERE (SELECT count(*) FROM grids g WHERE g.community_id = c.id AND EXISTS "
                "(SELECT 1 FROM households h WHERE h.grid_id = g.id)) >= 2 ORDER BY c.id LIMIT 2"
            )
        ).all()
        grid_sql = (
            "SELECT g.id, g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom)) FROM grids g "
            "WHERE g.community_id = :c AND EXISTS (SELECT 1 FROM households h WHERE h.grid_id = g.id) ORDER BY g.id"
        )
        first_a, second_a = conn.execute(text(grid_sql), {"c": a}).all()[:2]
        first_b = conn.execute(text(grid_sql), {"c": b}).first()
        rows = {"g1": first_a, "g1b": second_a, "g2": first_b}
        grids = {k: r[0] for k, r in rows.items()}
        codes = {k: r[1] for k, r in rows.items()} | {"a": a_code, "b": b_code, "street": street}
        points = {k: [r[2], r[3]] for k, r in rows.items()}
        households, buildings = {}, {}
        for key, grid_id in grids.items():
            households[key], buildings[key] = conn.execute(
                text("SELECT id, building_id FROM households WHERE grid_id = :g ORDER BY id LIMIT 1"), {"g": grid_id}
            ).one()
    return grids, codes, points, buildings, households


@contextmanager
def hazard_world(engine: Engine, database_url: str) -> Iterator[World]:
    with sample_loaded(engine):
        grids, codes, points, buildings, households = _places(engine)
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings)) as client:
            headers = {}
            for login, (role, scopes) in ACCOUNTS.items():
                resolved = [f"{s.split(':')[0]}:{codes[s.split(':')[-1]]}" for s in scopes]
                put_user(engine, login, role=role, scopes=[parse_scope(s) for s in resolved], password=PASSWORD)
                token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers[login] = {"Authorization": f"Bearer {token['access_token']}"}
            with engine.connect() as conn:
                users = dict(conn.execute(text("SELECT login, id FROM users")).all())
            yield World(engine, settings, client, headers, users, grids, codes, points, buildings, households)
