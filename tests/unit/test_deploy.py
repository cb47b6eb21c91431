"""The shipped scheduling files (deploy/systemd, deploy/cron): systemd accepts the units, the
timer fires on the first Monday of a quarter, and cron runs the same game-day command."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
SERVICE = SYSTEMD / "failover-harness-gameday.service"
TIMER = SYSTEMD / "failover-harness-gameday.timer"
CRON = ROOT / "deploy" / "cron" / "failover-harness-gameday"
SHIPPED_BINARY = "/opt/failover-harness/venv/bin/failover-harness"


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing in CI (Debian package systemd)")
        pytest.skip("systemd-analyze not installed here (Debian package systemd); CI runs this check")
    return found


def _exec_start(unit_text: str) -> str:
    joined = unit_text.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.startswith("ExecStart="))
    return " ".join(line.removeprefix("ExecStart=").split())


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    # verify also checks that ExecStart is executable: point it at this install's command.
    installed = Path(sys.executable).parent / "failover-harness"
    assert installed.exists()
    for unit in (SERVICE, TIMER):
        (tmp_path / unit.name).write_text(unit.read_text().replace(SHIPPED_BINARY, str(installed)))
    proc = subprocess.run([analyze, "verify", *(str(tmp_path / u.name) for u in (SERVICE, TIMER))],
                          capture_output=True, text=True, timeout=60, check=False)
    ours = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "failover-harness-gameday" in ln]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr  # unknown keys only warn


def test_service_runs_as_a_dedicated_user_with_cap_net_raw_only() -> None:
    text = SERVICE.read_text()
    settings = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and not ln.startswith("#"))
    assert settings["User"] == "failover-harness" != "root"
    assert settings["AmbientCapabilities"] == "CAP_NET_RAW" == settings["CapabilityBoundingSet"]
    assert settings["StateDirectory"] == "failover-harness"
    assert "--reports /var/lib/failover-harness/reports" in _exec_start(text)


def test_timer_fires_on_the_first_monday_of_each_quarter() -> None:
    analyze = _systemd_analyze()
    spec = next(ln.split("=", 1)[1] for ln in TIMER.read_text().splitlines() if ln.startswith("OnCalendar="))
    proc = subprocess.run([analyze, "calendar", "--iterations=8", "--base-time=2027-01-01 00:00:00", spec],
                          capture_output=True, text=True, timeout=30, check=True,
                          env={**os.environ, "TZ": "UTC", "SYSTEMD_COLORS": "0"})
    found = re.findall(r"(\d{4}-\d{2}-\d{2}) 06:00:00", proc.stdout)
    days = [dt.date.fromisoformat(d) for d in dict.fromkeys(found)]
    assert days[:4] == [dt.date(2027, 1, 4), dt.date(2027, 4, 5), dt.date(2027, 7, 5), dt.date(2027, 10, 4)]
    assert all(d.weekday() == 0 and d.day <= 7 and d.month in (1, 4, 7, 10) for d in days)


def test_cron_runs_the_same_game_day_as_the_service() -> None:
    line = next(ln for ln in CRON.read_text().splitlines() if ln[:1].isdigit())
    minute, hour, dom, month, dow, user, command = line.split(None, 6)
    assert (minute, hour, dom, month, dow, user) == ("0", "6", "1-7", "1,4,7,10", "*", "failover-harness")
    assert '"$(date +\\%u)" = 1' in command  # Monday only; % must be escaped in crontabs
    service = _exec_start(SERVICE.read_text())
    assert command.endswith(service.removeprefix(SHIPPED_BINARY).strip())
    assert SHIPPED_BINARY in command


def test_router_command_doc_is_generated_from_the_platform_table() -> None:
    from failover_harness.devices.platforms import PLATFORMS
    from failover_harness.devices.privileges import markdown
    doc = (ROOT / "docs" / "router-commands.md").read_text()
    assert doc == markdown(), "regenerate: python -m failover_harness.devices.privileges > docs/router-commands.md"
    for name, spec in PLATFORMS.items():
        assert f"## {name} " in doc and f"`{spec.bgp_summary_command}`" in doc
