# The two commands: `make serve` (run the service on the demo models) and
# `make test` (the whole test suite). Both set everything up first.
VENV ?= .venv

.PHONY: setup serve test bench clean

setup:
	@scripts/setup.sh

serve: setup
	$(VENV)/bin/graphferry serve

test: setup
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python benchmarks/latency.py

clean:
	rm -rf $(VENV) client_cpp/build *.egg-info
