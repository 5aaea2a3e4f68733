"""The ``gridmap`` command: set up the database, import, generate the sample area, compute, render maps, serve.

One module per concern: db (database, serve, demo), layers (imports, sample, overview map), residents (registers),
coverage, centers, grids, users (accounts), open311 (partner apps); common holds the one error exit. Modules import
only typer, the settings and the database helpers at the top; a command imports the analysis stack (pandas,
geopandas, folium, gis and the api modules built on them) when it runs, marked "lazy": loading it takes about 1.5 s,
which `gridmap --help`, a mistyped option and a one-line error should not wait for.
"""

import typer

from api.cli import centers, coverage, db, grids, layers, ledgers, open311, residents, users, worker_map
from api.cli import leader as leader_cli

app = typer.Typer(help="gridmap — 社区网格地图服务 (grid management and mapping on PostGIS).", no_args_is_help=True)
db_app = typer.Typer(help="Database: create, migrate.", no_args_is_help=True)
app.add_typer(db_app, name="db")
users_app = typer.Typer(help="Accounts: add, list, disable, reset a password.", no_args_is_help=True)
app.add_typer(users_app, name="users")
open311_app = typer.Typer(help="Open311 partner apps and their api_keys: add, list, revoke.", no_args_is_help=True)
app.add_typer(open311_app, name="open311-partners")

db_app.command("init")(db.db_init)
db_app.command("upgrade")(db.db_upgrade)
db_app.command("downgrade")(db.db_downgrade)
users_app.command("add")(users.add)
users_app.command("list")(users.list_users)
users_app.command("disable")(users.disable)
users_app.command("reset")(users.reset)
users_app.command("allow-unmasked")(users.allow_unmasked)
open311_app.command("add")(open311.add)
open311_app.command("list")(open311.list_partners)
open311_app.command("revoke")(open311.revoke)
# in this order in `gridmap --help`
app.command("coverage")(coverage.coverage_command)
app.command("refresh-coverage")(coverage.refresh_command)
app.command("coverage-map")(coverage.coverage_map_command)
app.command("assign-centers")(centers.assign_centers_command)
app.command("centers-map")(centers.centers_map_command)
app.command("check-grids")(grids.check_grids_command)
app.command("partition-grids")(grids.partition_grids_command)
app.command("centers")(centers.centers_command)
app.command("import-osm")(layers.import_osm)
app.command("import-layer")(layers.import_layer)
app.command("import-residents")(residents.import_residents)
app.command("ledger")(ledgers.ledger_command)
app.command("sample")(layers.sample)
app.command("overview-map")(layers.overview_map)
app.command("serve")(db.serve)
app.command("demo")(db.demo)
app.command("leader-map")(leader_cli.leader_map_command)
app.command("worker-map")(worker_map.worker_map_command)

__all__ = ["app"]
