"""The built distribution, as a user installs it: wheel and sdist built with `python -m build`
(the wheel from the sdist, so the sdist is complete too), the wheel installed into a fresh
virtualenv in a temporary directory away from the source tree, the command run from there.

Third-party dependencies are not downloaded again: the fresh venv sees this venv's
third-party packages through a `.pth` file naming a directory of symlinks to them, which
leaves out failover-harness itself (the editable install) and every `.pth` hook, so the only
failover_harness importable there is the one from the wheel. Runs offline apart from the
build backend that `python -m build` puts in its isolated build environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from failover_harness import __version__

ROOT = Path(__file__).resolve().parents[2]
OWN_PREFIXES = ("failover_harness", "failover-harness", "__editable__", "_failover_harness")


def _run(args: list[str | Path], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300, returncode: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == returncode, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # Build from a copy of the tracked files: the build never writes into the source tree
    # and untracked local files cannot leak into the sdist.
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if not (ROOT / name).is_file():
            continue  # deleted but not yet committed
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, src], cwd=src, timeout=600)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(bin dir of a fresh venv with the wheel installed, environment to run it in)."""
    home = tmp_path_factory.mktemp("jumphost")
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=home)
    purelib = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=home).stdout.strip())
    deps = home / "thirdparty"
    deps.mkdir()
    for lib in {Path(sysconfig.get_path("purelib")), Path(sysconfig.get_path("platlib"))}:
        for entry in lib.iterdir():
            if entry.name.lower().startswith(OWN_PREFIXES) or entry.suffix == ".pth":
                continue
            if not (deps / entry.name).exists():
                (deps / entry.name).symlink_to(entry)
    (purelib / "zz_thirdparty.pth").write_text(f"{deps}\n")
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps",
          "--no-index", "-q", dists[0]], cwd=home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["HOME"] = str(home)
    return venv / "bin", env


def test_wheel_carries_run_time_files(dists: tuple[Path, Path]) -> None:
    wheel, sdist = dists
    assert wheel.name == f"failover_harness-{__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("failover_harness/py.typed",
                   "failover_harness/reports/report.schema.json",
                   "failover_harness/reports/templates/report.html.j2",
                   "failover_harness/reports/templates/report.md.j2",
                   f"failover_harness-{__version__}.dist-info/licenses/LICENSE"):
        assert needed in names, f"{needed} missing from {wheel.name}"
    sdist_names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for needed in ("LICENSE", "CHANGELOG.md", "deploy/azure/failover-harness-reader.json",
                   "deploy/azure/failover-harness-fault.json", "deploy/systemd/failover-harness-gameday.service",
                   "deploy/systemd/failover-harness-gameday.timer", "deploy/cron/failover-harness-gameday",
                   "docs/router-commands.md", "playbooks/tunnel1-failover.yaml", "inventories/lab.yaml"):
        assert needed in sdist_names, f"{needed} missing from {sdist.name}"
    # No XSD is read at run time (tests/data/junit.xsd only checks junit.xml in tests).
    assert not any(n.startswith("tests/") for n in names)
    metadata = zipfile.ZipFile(wheel).read(f"failover_harness-{__version__}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata


def test_installed_command_runs_away_from_the_source_tree(installed: tuple[Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    bindir, env = installed
    where = _run([bindir / "python", "-c", "import failover_harness; print(failover_harness.__file__)"],
                 cwd=tmp_path, env=env).stdout.strip()
    assert where.startswith(str(bindir.parent)), f"imported from {where}, not from the installed wheel"

    assert "validate" in _run([bindir / "failover-harness", "--help"], cwd=tmp_path, env=env).stdout
    version = _run([bindir / "failover-harness", "--version"], cwd=tmp_path, env=env).stdout
    assert version.strip() == f"failover-harness {__version__}"

    role = json.loads(_run([bindir / "failover-harness", "azure", "role", "reader"], cwd=tmp_path, env=env).stdout)
    assert role == json.loads((ROOT / "deploy" / "azure" / "failover-harness-reader.json").read_text())

    shown = _run([sys.executable, "-m", "pip", "--python", bindir / "python", "show", "failover-harness"],
                 cwd=tmp_path, env=env).stdout
    assert f"Version: {__version__}" in shown
    assert "License-Expression: Apache-2.0" in shown, f"pip show names no licence:\n{shown}"
    assert f"Location: {Path(where).parents[1]}" in shown


# Playbooks written for one shape of lab (see each file's header); every other playbook fits
# every shipped inventory.
NEEDS_INVENTORY = {
    "playbooks/router-down.yaml": {"lab-dual.yaml"},            # edge2: two on-prem routers
    "playbooks/isp1-link-down.yaml": {"lab-dual.yaml", "lab-isps.yaml"},  # edge1 wan0 as an uplink
}


def test_installed_command_validates_the_shipped_examples(installed: tuple[Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    bindir, env = installed
    for folder in ("inventories", "playbooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    playbooks = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "playbooks").glob("*.yaml"))
    assert playbooks and set(NEEDS_INVENTORY) <= set(playbooks)
    for inventory in sorted((tmp_path / "inventories").glob("*.yaml")):
        fitting = [p for p in playbooks if inventory.name in NEEDS_INVENTORY.get(p, {inventory.name})]
        proc = _run([bindir / "failover-harness", "validate", *fitting, "-i", inventory.relative_to(tmp_path)],
                    cwd=tmp_path, env=env)
        assert proc.stdout.count(": ok - ") == len(fitting) + 1, proc.stdout
        # A playbook for another lab is refused with the file, line and field that does not fit.
        for playbook in sorted(set(playbooks) - set(fitting)):
            refused = _run([bindir / "failover-harness", "validate", playbook, "-i", inventory.relative_to(tmp_path)],
                           cwd=tmp_path, env=env, returncode=2)
            assert re.search(rf"{re.escape(playbook)}:\d+: field '", refused.stderr), refused.stderr


def test_installed_command_renders_a_stored_timeline(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    bindir, env = installed
    run_dir = tmp_path / "run"
    shutil.copytree(ROOT / "tests" / "data" / "run-small", run_dir)
    _run([bindir / "failover-harness", "report", "render", run_dir], cwd=tmp_path, env=env)
    for name in ("report.html", "report.md", "report.json", "junit.xml", "report.png"):
        assert (run_dir / name).stat().st_size > 0, name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["generator"] == f"failover-harness {__version__}"
    # The stored run shut Tunnel1 with one flow hashed onto it: its outage shows in the verdicts.
    verdicts = {v["metric"]: v for s in report["sections"] for v in s["verdicts"]}
    assert verdicts["max_outage_s"]["status"] == "passed"
    assert "<svg" in (run_dir / "report.html").read_text()
