#!/usr/bin/env bash
# The main job: set everything up, bring the embedded lab up (prefix fh), run the Tunnel1
# game-day against it and leave the report under reports/<run-id>/. Extra arguments go to
# `failover-harness run` (e.g. --no-live). KEEP_LAB=1 leaves the lab up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
FH=.venv/bin/failover-harness
PREFIX=${PREFIX:-fh}
PLAYBOOK=${PLAYBOOK:-playbooks/tunnel1-failover.yaml}

started=0
cleanup() {
  if [[ $started == 1 && -z ${KEEP_LAB:-} ]]; then
    $FH lab down --prefix "$PREFIX"
  fi
}
trap cleanup EXIT
if ! $FH lab status --prefix "$PREFIX" >/dev/null 2>&1; then
  $FH lab down --prefix "$PREFIX" >/dev/null 2>&1 || true  # what a crashed lab left
  started=1
  $FH lab up --prefix "$PREFIX"
fi
$FH lab status --prefix "$PREFIX"
$FH run "$PLAYBOOK" -i "$($FH lab inventory --prefix "$PREFIX")" "$@"
