#!/usr/bin/env bash
# Make sure a PostgreSQL server with PostGIS and pgRouting answers, and record its URL in .gridmap/database_url.
# Order: GRIDMAP_DATABASE_URL if set; else a server on 127.0.0.1:5432 if one answers (trust or .pgpass);
# else a private cluster under .gridmap/pg on 127.0.0.1:${GRIDMAP_PRIVATE_PORT:-55432} (loopback only).
# GRIDMAP_DB_MODE=private forces the private cluster (used to test that path).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gridmap
GRIDMAP_STEP=db
. scripts/lib.sh
# Install PostGIS and pgRouting for the given server major version when the server lacks them.
ensure_extensions_installed() {
  local major=$1
  apt_install "postgresql-$major-postgis-3" "postgresql-$major-pgrouting"
}

if [ "${1:-}" = stop ]; then
  if [ -e .gridmap/pg/PG_VERSION ]; then
    major=$(cat .gridmap/pg/PG_VERSION)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "/usr/lib/postgresql/$major/bin/pg_ctl" -D "$(readlink -f .gridmap/pg)" stop
    else "/usr/lib/postgresql/$major/bin/pg_ctl" -D "$(readlink -f .gridmap/pg)" stop; fi
  else
    say "no private cluster in .gridmap/pg"
  fi
  exit 0
fi

if [ -n "${GRIDMAP_DATABASE_URL:-}" ]; then
  say "using GRIDMAP_DATABASE_URL"
  echo "$GRIDMAP_DATABASE_URL" > .gridmap/database_url
  exit 0
fi

mode=${GRIDMAP_DB_MODE:-auto}
if [ "$mode" = auto ] && command -v psql >/dev/null &&
  psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  major=$(psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'show server_version_num' | cut -c1-2)
  ensure_extensions_installed "$major"
  say "using the PostgreSQL $major server on 127.0.0.1:5432"
  echo "postgresql+psycopg2://postgres@127.0.0.1:5432/gridmap" > .gridmap/database_url
  exit 0
fi

# Private cluster, run by the postgres system user (initdb and postgres refuse to run as root).
port=${GRIDMAP_PRIVATE_PORT:-55432}
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
major=$(ls /usr/lib/postgresql | sort -n | tail -1)
bin=/usr/lib/postgresql/$major/bin
ensure_extensions_installed "$major"
data=.gridmap/pg
# Paths given to it are absolute; run from / so a closed working directory does not matter.
run_as_pg() { if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
if [ ! -e "$data/PG_VERSION" ] && [ ! -L "$data" ]; then
  mkdir -p "$data"
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$data"
    # The postgres user must reach the folder; if a parent is closed to it, keep the cluster in /var/lib.
    if ! runuser -u postgres -- test -w "$(pwd)/$data"; then
      rmdir "$data"
      target=/var/lib/gridmap/pg-$(pwd | md5sum | cut -c1-12)
      mkdir -p "$target" && chown postgres:postgres "$target"
      ln -s "$target" "$data"
    fi
  fi
fi
if [ ! -e "$data/PG_VERSION" ]; then
  say "initialising a private PostgreSQL $major cluster in $data"
  run_as_pg "$bin/initdb" -D "$(readlink -f "$data")" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
datadir=$(readlink -f "$data")
if ! run_as_pg "$bin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
  say "starting the private cluster on 127.0.0.1:$port"
  run_as_pg "$bin/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $datadir" start >/dev/null
fi
echo "postgresql+psycopg2://postgres@127.0.0.1:$port/gridmap" > .gridmap/database_url
say "private cluster ready (stop it with: make stop-db)"
