.PHONY: test lint fix bench

test:
	.venv/bin/python -m pytest

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports

fix:
	.venv/bin/ruff check --fix . && .venv/bin/ruff format .

bench:
	.venv/bin/pip install -q -e '.[bench]' && .venv/bin/python benchmarks/run.py
