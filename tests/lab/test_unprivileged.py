"""Probes without root (issue 17): a non-root user (`nobody`) runs the Tunnel1 game-day on the
root-made lab, the probe worker alone holding CAP_NET_RAW; without it the run exits 3 before
any fault, naming the fix.

What the non-root run is given (README "Probes without root"):
- read access to copies of the lab inventory, the router password file, known_hosts, the lab
  CA and the identity-header secret (owned by the user, 0400), and a writable reports dir;
- the production recipe: a dedicated copy of the interpreter with `setcap cap_net_raw+ep`,
  named by FAILOVER_HARNESS_PROBE_PYTHON, so only the worker has the capability;
- lab only: the vantage point is a network namespace, which needs CAP_SYS_ADMIN to enter. A
  root-owned copy of nsenter with `cap_sys_admin+ep`, executable only by the user's group,
  enters it (FAILOVER_HARNESS_NETNS_EXEC) and execs the worker, whose own file capability is
  then its only one. A production jump host probes from its own namespace and needs no such
  helper;
- test plumbing only: this machine's Python lives under /root (mode 0700); the run sees it
  through bind mounts in a private mount namespace. A jump host installs into a venv the
  user can read (pipx, /opt).

The systemd recipe (AmbientCapabilities=CAP_NET_RAW) is the ambient set; it is checked on the
worker alone (loopback ICMP), since the namespace helper's file capability would reset it.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from failover_harness.lab.state import LabState
from tests.lab.conftest import lab_vtysh
from tests.lab.test_discover_lab import quick_azure

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
NOBODY = pwd.getpwnam("nobody")
CAP_NET_RAW_MASK = 1 << 13
VENV_BIN = Path(sys.executable).parent


class Jail:
    """A directory the non-root user owns, with what its run may read, and the command line
    that runs a program as that user (uid/gid nobody, no capabilities of its own)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def give(self, path: Path, mode: int = 0o400) -> None:
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
        path.chmod(mode)

    def command(self, argv: list[str], env: dict[str, str], ambient_net_raw: bool = False) -> list[str]:
        caps = ["--inh-caps=-all,+net_raw", "--ambient-caps=-all,+net_raw"] if ambient_net_raw else \
            ["--inh-caps=-all"]
        setpriv = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", *caps]
        envs = ["env", "-i", *(f"{k}={v}" for k, v in env.items())]
        script = _reachable_script(self.base, [Path(sys.executable), ROOT]) + \
            "exec " + shlex.join(envs + setpriv + argv)
        return ["unshare", "-m", "--propagation", "private", "sh", "-ec", script]


def _reachable_script(base: Path, paths: list[Path]) -> str:
    """Shell lines (run as root in a private mount namespace) that make every directory on
    the way to `paths` traversable by others: a 0755 view of each closed directory holding
    bind mounts of just the children on the way, mounted over it."""
    lines = []
    done: set[Path] = set()
    for path in paths:
        real = path.resolve()
        for parent in reversed(real.parents):
            child = real.relative_to(parent).parts[0] if parent != real else None
            if child is None or parent in done or parent.stat().st_mode & 0o001:
                continue
            done.add(parent)
            view = base / ("view" + str(parent).replace("/", "_"))
            (view / child).mkdir(parents=True, exist_ok=True)
            view.chmod(0o755)
            lines.append(f"mount --bind {shlex.quote(str(parent / child))} {shlex.quote(str(view / child))}")
            lines.append(f"mount --rbind {shlex.quote(str(view))} {shlex.quote(str(parent))}")
    return "".join(line + "\n" for line in lines)


@pytest.fixture
def jail() -> Iterator[Jail]:
    base = Path(tempfile.mkdtemp(prefix="fq-unpriv-", dir="/tmp"))
    base.chmod(0o755)
    os.chown(base, NOBODY.pw_uid, NOBODY.pw_gid)  # the user's home for this run
    try:
        yield Jail(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _probe_python(jail: Jail, with_cap: bool) -> Path:
    """A dedicated copy of the interpreter (a venv with --copies that sees the project's
    site-packages), with `setcap cap_net_raw+ep` when asked."""
    venv = jail.base / ("probe-venv" if with_cap else "plain-venv")
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "project.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    python = venv / "bin" / Path(os.path.realpath(sys.executable)).name
    if with_cap:
        subprocess.run(["setcap", "cap_net_raw+ep", str(python)], check=True)
    return python


def _netns_helper(jail: Jail) -> Path:
    bindir = jail.base / "bin"
    bindir.mkdir()
    helper = bindir / "netns-enter"
    shutil.copy2(shutil.which("nsenter") or "/usr/bin/nsenter", helper)
    os.chown(helper, 0, NOBODY.pw_gid)
    helper.chmod(0o750)
    subprocess.run(["setcap", "cap_sys_admin+ep", str(helper)], check=True)
    return helper


def _copy_lab_files(jail: Jail, lab: LabState) -> Path:
    """The lab inventory and every file it references, copied for the user (0400)."""
    assert lab.inventory is not None
    text = Path(lab.inventory).read_text()
    lab_dir = str(Path(lab.run_dir))
    copies = jail.base / "lab"
    for ref in sorted(set(re.findall(re.escape(lab_dir) + r"/[^\s},'\"]+", text))):
        target = copies / Path(ref).relative_to(lab_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ref, target)
        jail.give(target)
    for d in [copies, *(p for p in copies.rglob("*") if p.is_dir())]:
        jail.give(d, 0o700)
    inventory = jail.base / "inventory.yaml"
    inventory.write_text(text.replace(lab_dir, str(copies)))
    jail.give(inventory)
    playbook = jail.base / "tunnel1-failover.yaml"
    shutil.copy2(ROOT / "playbooks" / "tunnel1-failover.yaml", playbook)
    jail.give(playbook)
    reports = jail.base / "reports"
    reports.mkdir()
    jail.give(reports, 0o700)
    return inventory


def _env(jail: Jail, **extra: str) -> dict[str, str]:
    return {"HOME": str(jail.base), "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
            **extra}


def _tunnel1_link_changes(lab: LabState) -> tuple[object, object]:
    shown = lab_vtysh(lab, "edge1", "show interface Tunnel1 json")
    tunnel1 = shown.get("Tunnel1", shown)
    assert isinstance(tunnel1, dict)
    return tunnel1.get("linkUps"), tunnel1.get("linkDowns")


def _run_gameday(jail: Jail, inventory: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [str(VENV_BIN / "failover-harness"), "run", str(jail.base / "tunnel1-failover.yaml"),
            "-i", str(inventory), "--reports", str(jail.base / "reports"), "--no-live", "--gate-timeout", "40"]
    return subprocess.run(jail.command(argv, env), cwd=jail.base, capture_output=True, text=True, timeout=400)


def test_nobody_runs_the_tunnel1_game_day_with_cap_net_raw_on_the_worker_only(lab: LabState, jail: Jail) -> None:
    inventory = _copy_lab_files(jail, lab)
    python = _probe_python(jail, with_cap=True)
    helper = _netns_helper(jail)
    env = _env(jail, FAILOVER_HARNESS_PROBE_PYTHON=str(python),
               FAILOVER_HARNESS_NETNS_EXEC=f"{helper} --net=/run/netns/{{netns}}")

    # The chain the worker is started through gives it uid nobody and CAP_NET_RAW alone.
    vantage = f"{lab.prefix}-host"
    status = subprocess.run(jail.command(
        [str(helper), f"--net=/run/netns/{vantage}", str(python), "-c",
         "print(open('/proc/self/status').read())"], env), capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    fields = dict(line.split(":\t", 1) for line in status.stdout.splitlines() if ":\t" in line)
    assert fields["Uid"].split()[1] == str(NOBODY.pw_uid)
    assert int(fields["CapEff"], 16) == CAP_NET_RAW_MASK, fields["CapEff"]

    ups_before, downs_before = _tunnel1_link_changes(lab)
    with quick_azure(lab):
        proc = _run_gameday(jail, inventory, env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all expectations met" in proc.stdout
    # One run folder and the run history beside it, both written by nobody.
    written = sorted((jail.base / "reports").iterdir())
    run_dirs = [p for p in written if p.is_dir()]
    assert len(run_dirs) == 1 and [p.name for p in written if not p.is_dir()] == ["history.sqlite"], written
    assert all(p.stat().st_uid == NOBODY.pw_uid for p in written)
    # The router saw the fault and the failback: Tunnel1 went down and up once each.
    ups_after, downs_after = _tunnel1_link_changes(lab)
    if isinstance(downs_before, int) and isinstance(downs_after, int):
        assert downs_after == downs_before + 1
        assert ups_after == (ups_before or 0) + 1


def test_without_the_capability_the_run_exits_3_before_any_fault_naming_the_fix(lab: LabState,
                                                                                jail: Jail) -> None:
    inventory = _copy_lab_files(jail, lab)
    python = _probe_python(jail, with_cap=False)  # the same copy, no setcap
    helper = _netns_helper(jail)
    env = _env(jail, FAILOVER_HARNESS_PROBE_PYTHON=str(python),
               FAILOVER_HARNESS_NETNS_EXEC=f"{helper} --net=/run/netns/{{netns}}")
    before = _tunnel1_link_changes(lab)
    proc = _run_gameday(jail, inventory, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out[-3000:]
    assert "no fault was injected" in out
    assert "CAP_NET_RAW" in out and "setcap cap_net_raw+ep" in out and "AmbientCapabilities" in out, out[-3000:]
    # No fault: the router's own counters did not move, and the journal holds no change.
    assert _tunnel1_link_changes(lab) == before
    for journal in (jail.base / "reports").rglob("journal.jsonl"):
        assert "shut" not in journal.read_text()


def test_the_systemd_recipe_ambient_cap_net_raw_lets_the_worker_probe(jail: Jail) -> None:
    """AmbientCapabilities=CAP_NET_RAW is the ambient set: a plain interpreter started with it
    (setpriv here, systemd in production) probes ICMP; without it, the worker says the fix."""
    script = jail.base / "probe.py"
    script.write_text(
        "import sys, time\n"
        "from failover_harness.probes import FlowSpec, ProbeProcess\n"
        "from failover_harness.errors import InfrastructureError\n"
        "got = []\n"
        "flows = [FlowSpec(id='i0', kind='icmp', src='127.0.0.1', dst='127.0.0.1', icmp_id=4242,"
        " interval_s=0.02)]\n"
        "try:\n"
        "    with ProbeProcess(flows, got.extend, realtime=False) as p:\n"
        "        p.start(); time.sleep(0.5); p.stop()\n"
        "except InfrastructureError as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print('answered', sum(1 for r in got if not r.lost))\n")
    jail.give(script)
    env = _env(jail)
    with_cap = subprocess.run(jail.command([sys.executable, str(script)], env, ambient_net_raw=True),
                              capture_output=True, text=True, timeout=60)
    assert with_cap.returncode == 0, with_cap.stdout + with_cap.stderr
    answered = int(with_cap.stdout.split("answered", 1)[1])
    assert answered >= 10  # ~25 sent in 0.5 s over loopback
    without = subprocess.run(jail.command([sys.executable, str(script)], env),
                             capture_output=True, text=True, timeout=60)
    assert without.returncode == 3, without.stdout + without.stderr
    assert "CAP_NET_RAW" in without.stdout and "AmbientCapabilities" in without.stdout
