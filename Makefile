# The two commands of the README. Each sets everything up first (idempotent).
#   make demo   - the whole chain on the shipped defaults -> results/demo/report.html
#   make test   - ruff, then the test suite (real ngspice, OpenVAF, Brian2) on 2 workers
#                 (pytest-xdist; one test file per worker, so module fixtures run once)
#   fast loop   - .venv/bin/pytest -n 2 -m "not slow and not spice"

DEMO_OUT ?= results/demo

.PHONY: setup demo test bench lint

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/anamorph demo --out $(DEMO_OUT)

test:
	bash scripts/setup.sh --browser
	$(MAKE) --no-print-directory lint
	.venv/bin/python -m pytest -q -n 2 --dist loadfile --durations=30

bench: setup
	for b in bench/*.py; do .venv/bin/python $$b || exit 1; done

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
