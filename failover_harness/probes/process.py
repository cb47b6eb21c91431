"""ProbeProcess: runs the probe worker as a child process (optionally in a network
namespace) and hands its results to a callback from a reader thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import IO

from failover_harness.errors import InfrastructureError
from failover_harness.probes.flows import FlowSpec, ProbeJob
from failover_harness.probes.results import ProbeResult, ResultDecoder

ResultCallback = Callable[[list[ProbeResult]], None]
WORKER_MODULE = "failover_harness.probes.worker"
# How the worker enters a vantage point's network namespace ({netns} is its name).
NETNS_EXEC: tuple[str, ...] = ("ip", "netns", "exec", "{netns}")
PIPE_SIZE = 1 << 20  # room for ~1 s of results at 40,000 probes/s if we fall behind
F_SETPIPE_SZ = 1031


class ProbeProcess:
    """One probe worker. `start()` returns once it probes; `stop()` ends it (SIGTERM, wait
    for the outstanding probes to be judged, SIGKILL if it hangs). Use as a context manager
    so it never outlives the caller; if the caller dies, the worker sees its stdin close and
    exits on its own."""

    def __init__(self, flows: Sequence[FlowSpec], on_results: ResultCallback, *,
                 netns: str | None = None, cpu: int | None = None,
                 start_delay_s: float = 0.05, realtime: bool = True,
                 python: str = sys.executable, netns_exec: Sequence[str] = NETNS_EXEC) -> None:
        self.job = ProbeJob(flows=list(flows), start_delay_s=start_delay_s, cpu=cpu,
                            realtime=realtime)
        self.on_results = on_results
        self.netns = netns
        self.python = python
        self.netns_exec = tuple(netns_exec)
        self._decoder = ResultDecoder([f.id for f in self.job.flows])
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._hello = threading.Event()
        self.callback_error: BaseException | None = None
        self.stream_error: ValueError | None = None  # the worker wrote something unreadable
        self.results_received = 0

    @property
    def command(self) -> list[str]:
        worker = [self.python, "-m", WORKER_MODULE]
        if not self.netns:
            return worker
        return [part.replace("{netns}", self.netns) for part in self.netns_exec] + worker

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def grid_origin(self) -> float | None:
        """CLOCK_MONOTONIC time of the first send slot (flows are staggered after it)."""
        return self._decoder.grid_origin

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, ready_timeout_s: float = 20.0) -> float:
        if self._proc is not None:
            raise RuntimeError("probe process already started")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        # Own session: a Ctrl-C at the terminal reaches the orchestrator, which stops us.
        self._proc = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._stderr,
                                      start_new_session=True)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            import fcntl
            fcntl.fcntl(self._proc.stdout.fileno(), F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass
        self._reader = threading.Thread(target=self._read, name=f"probe-reader-{self._proc.pid}",
                                        daemon=True)
        self._reader.start()
        try:
            self._proc.stdin.write(self.job.model_dump_json().encode() + b"\n")
            self._proc.stdin.flush()  # stdin stays open: its EOF tells the worker we are gone
        except BrokenPipeError:
            pass
        if not self._wait_hello(ready_timeout_s):
            self.kill()
            raise InfrastructureError(f"probe worker did not start{self._where()}: "
                                      f"{self.stderr_text() or 'no message'}")
        assert self.grid_origin is not None
        return self.grid_origin

    def _wait_hello(self, timeout_s: float) -> bool:
        assert self._proc is not None
        step = 0.05
        waited = 0.0
        while waited < timeout_s:
            if self._hello.wait(step):
                return True
            if self._proc.poll() is not None:
                return self._hello.is_set()
            waited += step
        return False

    def _where(self) -> str:
        return f" in namespace {self.netns}" if self.netns else ""

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            try:
                results = self._decoder.feed(data)
            except ValueError as exc:  # keep draining so the worker never blocks on us
                self.stream_error = self.stream_error or exc
                continue
            if self._decoder.grid_origin is not None:
                self._hello.set()
            if not results:
                continue
            self.results_received += len(results)
            try:
                self.on_results(results)
            except BaseException as exc:  # keep draining: a stalled pipe would stall probes
                if self.callback_error is None:
                    self.callback_error = exc

    def stop(self, timeout_s: float | None = None) -> int:
        """SIGTERM; wait for outstanding probes (their timeout) and the last results.
        Returns the worker's exit status."""
        proc = self._proc
        if proc is None:
            return 0
        if timeout_s is None:
            timeout_s = max(f.timeout_s for f in self.job.flows) + 5.0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._finish()
        return proc.returncode

    def kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._finish()

    def _finish(self) -> None:
        assert self._proc is not None
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        if self._reader is not None:
            self._reader.join(10.0)
        if self._proc.stdout is not None and not self._proc.stdout.closed:
            self._proc.stdout.close()

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-4000:]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the worker used so far; 0 once it has exited."""
        return 0.0 if self._proc is None else process_cpu_seconds(self._proc.pid)

    def __enter__(self) -> ProbeProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._proc is not None:
            if self.running:
                self.stop()
            else:
                self._finish()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` used so far; 0 once it has gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
