# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done

.PHONY: setup demo test test-all bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) cli.py demo --out runs/demo

# Two test processes (pytest-xdist): most tests run on one core (one torch thread, numpy), so a 2-core machine
# takes ~1.5x less time. --dist loadfile keeps each module in one process, so its fixtures are built once.
XDIST := -n 2 --dist loadfile

test: setup
	$(PY) -m pytest -q $(XDIST)

test-all: setup
	$(PY) -m pytest -q -m "" $(XDIST)

bench: setup
	$(PY) bench/shard_io.py

clean:
	rm -rf runs .pytest_cache
