# The two commands a newcomer needs (see README.md):
#   make gameday   set everything up, bring the embedded lab up, run the Tunnel1 game-day
#   make test      set everything up, lint (make lint), run the whole test suite (lab tests need root)
SHELL := /bin/bash

.PHONY: setup gameday lint test

setup:
	./scripts/install.sh

gameday:
	./scripts/gameday.sh

# House rules, CI gates: ruff (lint + import order) and mypy --strict (config: pyproject.toml)
lint: setup
	.venv/bin/ruff check failover_harness
	.venv/bin/mypy failover_harness

test: lint
	.venv/bin/python -m pytest --failover-lab
