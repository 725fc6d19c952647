# The two commands of the README. Each sets everything up first (idempotent).
#   make demo   - the whole chain on the shipped defaults -> results/demo/report.html
#   make test   - the test suite (real ngspice, OpenVAF, Brian2; ~16 minutes on 2 cores)

DEMO_OUT ?= results/demo

.PHONY: setup demo test bench lint

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/anamorph demo --out $(DEMO_OUT)

test:
	bash scripts/setup.sh --browser
	.venv/bin/python -m pytest -q

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
