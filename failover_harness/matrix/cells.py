"""Run the matrix's cells, one at a time: bring the cell's lab up, run its game-day with the
inventory that lab wrote (a `failover-harness run` of its own), keep the routers' FRR logs
as evidence, bring the lab down. A lock file, when given, is held for each cell only, so
other users of a shared machine's lab can run between cells."""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from failover_harness.errors import HarnessError
from failover_harness.lab import lab
from failover_harness.lab.state import RouterState
from failover_harness.matrix.model import Cell, Matrix
from failover_harness.matrix.results import CellResult, cell_result
from failover_harness.matrix.table import as_json

RUN_TIMEOUT_S = 1800  # a cell at Azure's 180 s hold with its waits stays well under this


@contextmanager
def held(lock: Path | None) -> Iterator[None]:
    """flock(2) on `lock` (the same lock as flock(1) takes); nothing when None."""
    if lock is None:
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_cell(matrix: Matrix, cell: Cell, prefix: str, out_dir: Path,
             say: Callable[[str], None]) -> CellResult:
    """One cell, start to end; the lab always comes down. A cell that could not run is a
    result too (status error, with why), not an exception."""
    cell_dir = out_dir / cell.name
    cell_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    t = time.monotonic()
    lab.down(prefix)  # what an interrupted earlier cell left
    try:
        state = lab.up(prefix, cell.lab)
    except HarnessError as exc:
        lab.down(prefix)
        return CellResult.failed(cell, started, f"lab up: {exc}")
    say(f"{cell.name}: lab up in {time.monotonic() - t:.0f} s; running {cell.playbook}")
    try:
        argv = [sys.executable, "-m", "failover_harness.cli", "run",
                str(matrix.playbook_path(cell)), "-i", str(state.inventory),
                "--reports", str(cell_dir), "--run-id", "run", "--no-live"]
        if cell.guard_loss_s is not None:
            argv += ["--guard-loss", str(cell.guard_loss_s)]
        with (cell_dir / "run.log").open("w") as log:
            proc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=RUN_TIMEOUT_S, check=False)
        _keep_frr_logs(state.routers, cell_dir / "evidence")
    except subprocess.TimeoutExpired:
        return CellResult.failed(cell, started, f"run took over {RUN_TIMEOUT_S} s")
    finally:
        lab.down(prefix)
    return cell_result(cell, started, proc.returncode, cell_dir / "run")


def _keep_frr_logs(routers: dict[str, RouterState], into: Path) -> None:
    """Each router's own FRR log (wall-clock stamped): the independent evidence."""
    into.mkdir(exist_ok=True)
    for name, router in routers.items():
        log = Path(router.frr_dir) / "frr.log"
        if log.is_file():
            shutil.copyfile(log, into / f"{name}-frr.log")


def run_matrix(matrix: Matrix, cells: list[Cell], prefix: str, out_dir: Path,
               lock: Path | None, say: Callable[[str], None]) -> list[CellResult]:
    results: list[CellResult] = []
    for cell in cells:
        with held(lock):
            result = run_cell(matrix, cell, prefix, out_dir, say)
        say(f"{cell.name}: {result.status} ({result.summary()})")
        results.append(result)
        (out_dir / "matrix.json").write_text(as_json(results))  # kept after every cell
    return results
