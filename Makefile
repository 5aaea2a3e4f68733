# gridmap — the two commands a new user needs are `make demo` and `make test` (see README.md).
.PHONY: demo test setup setup-test serve lint bench stop-db

demo: setup
	.venv/bin/gridmap demo

test: setup-test
	.venv/bin/mypy
	.venv/bin/python -m pytest -q -rs

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

serve: setup
	.venv/bin/gridmap serve

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/setup.sh --bench
	.venv/bin/python benchmarks/import.py
	.venv/bin/python benchmarks/service_circles.py
	.venv/bin/python benchmarks/centers.py
	.venv/bin/python benchmarks/stored.py

stop-db:
	bash scripts/db.sh stop
