"""The layout's import rules (docs/design.md, "Import rules"), read from the source with `ast`.

Each rule is a function from one module's parsed source to the violations in it, so a test can plant a violation
and see it caught.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "maps", "api")

GIS_MUST_NOT_IMPORT = (
    "api",
    "maps",
    "sqlalchemy",
    "geoalchemy2",
    "psycopg2",
    "fastapi",
    "starlette",
    "typer",
    "folium",
    "branca",
)
MAPS_MUST_NOT_IMPORT = ("api", "sqlalchemy", "geoalchemy2", "psycopg2")
STORAGE_MUST_NOT_IMPORT = ("fastapi", "starlette", "api.routers", "api.cli", "typer")
RESIDENTS_MUST_NOT_IMPORT = ("sqlalchemy", "geoalchemy2", "psycopg2", "fastapi", "starlette", "typer")
RESIDENTS_MAY_IMPORT_FROM_API = ("api.residents", "api.errors", "api.privacy")
WORKFLOWS_MAY_IMPORT_FROM_API = ("api.workflows", "api.errors")


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "gis.centers._flow"
    path: str  # relative to the repository, for messages
    tree: ast.Module

    @classmethod
    def parse(cls, name: str, source: str, path: str = "<planted>") -> Module:
        return cls(name, path, ast.parse(source))

    @property
    def package(self) -> str:
        return self.name.split(".")[0]

    def imports(self) -> Iterator[tuple[int, str]]:
        """(line, module) of every import, relative imports resolved against this module."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = self.name.split(".")
                    is_package = self.path.endswith("__init__.py")
                    anchor = parts[: len(parts) - node.level + (1 if is_package else 0)]
                    base = ".".join([*anchor, base] if base else anchor)
                yield node.lineno, base
                for alias in node.names:  # `from gis.centers import _flow` imports a module too
                    yield node.lineno, f"{base}.{alias.name}"


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def gis_stays_pure(module: Module) -> list[str]:
    if module.package != "gis":
        return []
    return [
        f"{module.path}:{line} imports {name}" for line, name in module.imports() if _within(name, GIS_MUST_NOT_IMPORT)
    ]


def maps_reads_no_database(module: Module) -> list[str]:
    if module.package != "maps":
        return []
    return [
        f"{module.path}:{line} imports {name}" for line, name in module.imports() if _within(name, MAPS_MUST_NOT_IMPORT)
    ]


def storage_knows_no_http(module: Module) -> list[str]:
    if not _within(module.name, ("api.storage",)):
        return []
    return [
        f"{module.path}:{line} imports {name}"
        for line, name in module.imports()
        if _within(name, STORAGE_MUST_NOT_IMPORT)
    ]


def residents_stay_pure(module: Module) -> list[str]:
    """api.residents is pure logic the storage and the routers call: no database, HTTP or CLI, and of api only the
    errors and the privacy helpers."""
    if not _within(module.name, ("api.residents",)):
        return []
    return [
        f"{module.path}:{line} imports {name}"
        for line, name in module.imports()
        if _within(name, RESIDENTS_MUST_NOT_IMPORT)
        or (_within(name, ("api",)) and not _within(name, RESIDENTS_MAY_IMPORT_FROM_API))
    ]


def workflows_stay_pure(module: Module) -> list[str]:
    """api.workflows (the case state machines) is pure: no database, HTTP or CLI; of api only the errors."""
    if not _within(module.name, ("api.workflows",)):
        return []
    return [
        f"{module.path}:{line} imports {name}"
        for line, name in module.imports()
        if _within(name, RESIDENTS_MUST_NOT_IMPORT)
        or (_within(name, ("api",)) and not _within(name, WORKFLOWS_MAY_IMPORT_FROM_API))
    ]


def no_private_module_of_another_gis_package(module: Module) -> list[str]:
    """`gis.a` may use `gis.a._x`; nothing outside `gis.a` may (tests of the package aside)."""
    own = ".".join(module.name.split(".")[:2])
    out = []
    for line, name in module.imports():
        parts = name.split(".")
        if parts[0] != "gis":
            continue
        private = next((i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")), None)
        if private is None or private < 2:
            continue
        owner = ".".join(parts[:private])
        if not (own == owner or own.startswith(owner + ".")):
            out.append(f"{module.path}:{line} imports {name}, private to {owner}")
    return out


def routers_hold_no_sql(module: Module) -> list[str]:
    if not _within(module.name, ("api.routers",)):
        return []
    out = [f"{module.path}:{line} imports {name}" for line, name in module.imports() if _within(name, ("sqlalchemy",))]
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("execute", "scalar", "scalars")
        ):
            out.append(f"{module.path}:{node.lineno} runs SQL (.{node.func.attr})")
    return out


def connections_opened_only_in_storage(module: Module) -> list[str]:
    """`x.connect()`, `x.raw_connection()` and `engine.begin()` (which opens one) belong to api/storage."""
    if _within(module.name, ("api.storage",)) or module.package not in PACKAGES:
        return []
    out = []
    for node in ast.walk(module.tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = ast.unparse(node.func.value).lower()
        if node.func.attr in ("connect", "raw_connection") or (node.func.attr == "begin" and "engine" in receiver):
            out.append(f"{module.path}:{node.lineno} opens a connection ({ast.unparse(node.func)}())")
    return out


def project_modules() -> list[Module]:
    modules = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(Module(".".join(parts), str(relative), ast.parse(path.read_text(encoding="utf-8"))))
    return modules


def violations(rule: Callable[[Module], list[str]], modules: list[Module]) -> list[str]:
    return [v for module in modules for v in rule(module)]


HOLDING = [
    gis_stays_pure,
    maps_reads_no_database,
    storage_knows_no_http,
    residents_stay_pure,
    workflows_stay_pure,
    no_private_module_of_another_gis_package,
    routers_hold_no_sql,
    connections_opened_only_in_storage,
]


@pytest.fixture(scope="module")
def modules() -> list[Module]:
    found = project_modules()
    assert {m.package for m in found} == set(PACKAGES) and len(found) > 50
    return found


@pytest.mark.parametrize("rule", HOLDING, ids=lambda rule: rule.__name__)
def test_import_rule_holds(rule, modules):
    assert violations(rule, modules) == []


PLANTED = [
    (gis_stays_pure, "gis.coverage.report", "import folium\n"),
    (gis_stays_pure, "gis.network", "from sqlalchemy import text\n"),
    (gis_stays_pure, "gis.crs", "from api.settings import Settings\n"),
    (maps_reads_no_database, "maps.overview", "from api.storage import maps\n"),
    (maps_reads_no_database, "maps.base", "import sqlalchemy as sa\n"),
    (storage_knows_no_http, "api.storage.layers", "from fastapi import HTTPException\n"),
    (storage_knows_no_http, "api.storage.layers", "from ..routers import maps\n"),
    (residents_stay_pure, "api.residents.register", "from sqlalchemy import text\n"),
    (residents_stay_pure, "api.residents.register", "from api.storage import transaction\n"),
    (residents_stay_pure, "api.residents.register", "from ..settings import Settings\n"),
    (workflows_stay_pure, "api.workflows.hazards", "from api.storage import hazards\n"),
    (workflows_stay_pure, "api.workflows.hazards", "from fastapi import HTTPException\n"),
    (workflows_stay_pure, "api.workflows.hazards", "from api.access import MANAGING\n"),
    (no_private_module_of_another_gis_package, "gis.coverage.run", "from gis.centers._flow import solve\n"),
    (no_private_module_of_another_gis_package, "gis.coverage.run", "from gis.centers import _flow\n"),
    (routers_hold_no_sql, "api.routers.maps", "def f(conn):\n    return conn.scalar(q)\n"),
    (
        connections_opened_only_in_storage,
        "api.cli.coverage",
        "def f(engine):\n    with engine.connect() as c:\n        pass\n",
    ),
    (
        connections_opened_only_in_storage,
        "api.routers.grids",
        "def f(engine):\n    with engine.begin() as c:\n        pass\n",
    ),
]


@pytest.mark.parametrize(("rule", "name", "source"), PLANTED, ids=lambda v: getattr(v, "__name__", None))
def test_a_planted_violation_is_caught(rule, name, source):
    path = name.replace(".", "/") + ".py"
    assert rule(Module(name, path, ast.parse(source)))


ALLOWED = [
    (workflows_stay_pure, "api.workflows.hazards", "from api.errors import Forbidden\nfrom . import STAY\n"),
    (no_private_module_of_another_gis_package, "gis.centers.run", "from gis.centers._flow import solve\n"),
    (no_private_module_of_another_gis_package, "gis.centers", "from ._flow import solve\n"),
    (gis_stays_pure, "gis.coverage.report", "import geopandas as gpd\nfrom gis.crs import to_metric\n"),
    (maps_reads_no_database, "maps.overview", "import folium\nfrom gis.crs import to_metric\n"),
    (connections_opened_only_in_storage, "api.storage.db", "def f(engine):\n    return engine.connect()\n"),
    (
        connections_opened_only_in_storage,
        "api.cli.coverage",
        "from api.storage import connect\ndef f(engine):\n    with connect(engine) as c:\n        pass\n",
    ),
    (routers_hold_no_sql, "api.routers.maps", "from api.storage.maps import drawn_versions\n"),
    (storage_knows_no_http, "api.storage.layers", "from sqlalchemy import Connection, text\n"),
    (
        residents_stay_pure,
        "api.residents.register",
        "import openpyxl\nfrom api.errors import RegisterError\nfrom api.privacy import mask_name\n"
        "from api.residents import fields\nfrom gis.idnumber import WEIGHTS\n",
    ),
]


@pytest.mark.parametrize(("rule", "name", "source"), ALLOWED, ids=lambda v: getattr(v, "__name__", None))
def test_what_the_rules_allow(rule, name, source):
    path = name.replace(".", "/") + ("/__init__.py" if name == "gis.centers" else ".py")
    assert rule(Module(name, path, ast.parse(source))) == []


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("[!_]*.py")))
def test_each_benchmark_script_starts(script):
    """Each script's imports resolve as they do when it is run (its own folder first on sys.path): a script named
    benchmarks/coverage.py once stood in for coverage.py, which numba imports when it can, and three benchmarks
    failed at start."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
