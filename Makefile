# The two commands a newcomer needs (see README.md):
#   make gameday   set everything up, bring the embedded lab up, run the Tunnel1 game-day
#   make test      set everything up and run the whole test suite (lab tests need root)
SHELL := /bin/bash
PREFIX ?= fh
FH := .venv/bin/failover-harness

.PHONY: setup gameday test lab-down

setup:
	./scripts/install.sh

gameday: setup
	$(FH) lab up --prefix $(PREFIX)
	$(FH) lab status --prefix $(PREFIX)

test: setup
	.venv/bin/python -m pytest

lab-down:
	$(FH) lab down --prefix $(PREFIX)
