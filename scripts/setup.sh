#!/usr/bin/env bash
# Set up gridmap on a Debian/Ubuntu machine: system packages, the virtual environment, and a PostGIS database.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--test]
#   --test  also installs what the test suite needs (headless Chromium and its driver, test extras).
#   --bench also installs the benchmarks' peers (osm2pgsql; tipg, the bench extra).
set -euo pipefail
cd "$(dirname "$0")/.."
for_tests=0
for_bench=0
[ "${1:-}" = "--test" ] && for_tests=1
[ "${1:-}" = "--bench" ] && for_tests=1 && for_bench=1

. scripts/lib.sh

# 1. System packages: Python's venv, PostgreSQL client (the server comes in scripts/db.sh when needed).
command -v python3 >/dev/null || apt_install python3
python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version' ||
  { say "gridmap needs Python 3.11 or newer"; exit 1; }
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
command -v psql >/dev/null || apt_install postgresql-client
# Chinese fonts so that screenshots of the maps show their labels; GDAL's ogrinfo to read /ogc as GIS tools do.
if [ $for_tests = 1 ]; then apt_install chromium chromium-driver fonts-noto-cjk gdal-bin; fi
if [ $for_bench = 1 ]; then apt_install osm2pgsql; fi

# 2. Virtual environment with the project installed (re-installed when pyproject.toml changes).
extras=""
[ $for_tests = 1 ] && extras="[test]"
[ $for_bench = 1 ] && extras="[test,bench]"
stamp=".venv/.gridmap-installed$extras"
if [ ! -x .venv/bin/python ]; then say "creating .venv"; python3 -m venv .venv; fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing gridmap into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".$extras"
  touch "$stamp"
fi

# 3. PostgreSQL + PostGIS + pgRouting, and the database with its migrations (the tests make their own).
bash scripts/db.sh
if [ $for_tests = 0 ]; then .venv/bin/gridmap db init; fi
