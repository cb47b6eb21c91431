# The two commands a newcomer needs (see README.md):
#   make gameday   set everything up, bring the embedded lab up, run the Tunnel1 game-day
#   make test      set everything up and run the whole test suite (lab tests need root)
SHELL := /bin/bash

.PHONY: setup gameday test

setup:
	./scripts/install.sh

gameday:
	./scripts/gameday.sh

test: setup
	.venv/bin/python -m pytest --failover-lab
