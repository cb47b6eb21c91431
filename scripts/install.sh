#!/usr/bin/env bash
# Installs everything failover-harness and its lab need on a Debian machine:
# the lab's Debian packages (apt-get) and the project with its Python dependencies in .venv.
# Idempotent: a second run only checks. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  frr                      # routers: zebra, bgpd, bfdd, staticd, vtysh
  openssh-server           # the on-prem router's SSH management login
  strongswan-charon strongswan-swanctl libcharon-extra-plugins  # IPsec (kernel-libipsec)
  libstrongswan-standard-plugins  # AES-GCM (gcm/openssl plugins) for the lab's IPsec policy
  iproute2 nftables iputils-ping fping tcpdump procps
  python3                  # the lab VM's UDP reflector runs on the system interpreter, as on a VM
  strace                   # tests: SIGKILL `recover` exactly at each of its journal writes
  chromium                 # headless browser check of the HTML report
  systemd                  # systemd-analyze verify of deploy/systemd units (tests/unit/test_deploy.py)
  libcap2-bin              # setcap/getcap: the probes-without-root recipe and its lab test
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "install.sh: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged daemons; the lab runs its own per namespace.
  for svc in frr ssh strongswan-starter strongswan; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
echo "install.sh: ready (.venv/bin/failover-harness)"
