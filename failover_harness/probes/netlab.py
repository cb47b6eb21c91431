"""Two network namespaces joined by a veth: the smallest place to run probes against (the
bench and the probe tests). Everything it makes lives inside its own namespaces, so deleting
them removes all of it."""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from failover_harness.errors import LabError

# A listener that accepts and closes at once, so TCP probes never fill its backlog.
_TCP_SINK = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4096)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
"""


def system_python3() -> str:
    """The system's python3 (not a venv's or pyenv's, which the user nobody may not reach):
    what an Azure VM offers."""
    found = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if found is None:
        raise LabError("no system python3 (/usr/bin/python3): run scripts/install.sh")
    return found


def _run(*cmd: str, input_text: str | None = None) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, input=input_text, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def unique_prefix(base: str) -> str:
    """`base` plus a random suffix, short enough for interface names."""
    return f"{base}{secrets.token_hex(2)}"


class VethLab:
    """Namespaces `<prefix>n` (near: the probes) and `<prefix>f` (far: the target)."""

    def __init__(self, prefix: str, *, subnet: str = "10.77.0.0/24", sources: int = 4) -> None:
        if len(prefix) > 12:
            raise ValueError("prefix too long for interface names")
        net = ipaddress.IPv4Network(subnet)
        hosts = list(net.hosts())
        self.prefix = prefix
        self.near_ns, self.far_ns = f"{prefix}n", f"{prefix}f"
        self.prefixlen = net.prefixlen
        self.far_ip = str(hosts[0])
        self.sources = [str(h) for h in hosts[1:1 + sources]]
        self._sinks: list[subprocess.Popen[str]] = []
        self._workdir: Path | None = None
        self._up = False

    def up(self) -> VethLab:
        existing = _run("ip", "netns", "list")
        for ns in (self.near_ns, self.far_ns):
            if any(line.split()[0] == ns for line in existing.splitlines() if line.strip()):
                raise LabError(f"namespace {ns} exists already: delete it or use another prefix")
        self._up = True
        try:
            for ns in (self.near_ns, self.far_ns):
                _run("ip", "netns", "add", ns)
                _run("ip", "-n", ns, "link", "set", "lo", "up")
            # Both ends created directly inside the namespaces: nothing in the root namespace.
            _run("ip", "link", "add", f"{self.prefix}a", "netns", self.near_ns, "type", "veth",
                 "peer", "name", f"{self.prefix}b", "netns", self.far_ns)
            for src in self.sources:
                _run("ip", "-n", self.near_ns, "addr", "add", f"{src}/{self.prefixlen}",
                     "dev", f"{self.prefix}a")
            _run("ip", "-n", self.far_ns, "addr", "add", f"{self.far_ip}/{self.prefixlen}",
                 "dev", f"{self.prefix}b")
            _run("ip", "-n", self.near_ns, "link", "set", f"{self.prefix}a", "up")
            _run("ip", "-n", self.far_ns, "link", "set", f"{self.prefix}b", "up")
            self.nft("add table inet fhprobe\n"
                     "add chain inet fhprobe input { type filter hook input priority 0; }\n"
                     "add chain inet fhprobe output { type filter hook output priority 0; }\n")
        except BaseException:
            self.down()
            raise
        return self

    @property
    def far_link(self) -> str:
        return f"{self.prefix}b"

    def nft(self, script: str) -> None:
        _run("ip", "netns", "exec", self.far_ns, "nft", "-f", "-", input_text=script)

    def drop_probes_to_far(self) -> tuple[float, float]:
        """Start dropping every probe on its way in to the far end (the forward path);
        returns the monotonic time before and after the rule went in (it took effect
        somewhere in between)."""
        return self._timed("add rule inet fhprobe input ip protocol { icmp, tcp, udp } drop\n")

    def drop_answers_from_far(self) -> tuple[float, float]:
        """Start dropping every answer the far end sends (the return path)."""
        return self._timed("add rule inet fhprobe output ip protocol { icmp, tcp, udp } drop\n")

    def stop_dropping(self) -> tuple[float, float]:
        return self._timed("flush chain inet fhprobe input\nflush chain inet fhprobe output\n")

    def _timed(self, script: str) -> tuple[float, float]:
        before = time.monotonic()
        self.nft(script)
        return before, time.monotonic()

    def start_reflector(self, port: int) -> None:
        """The UDP probes' reflector as on a VM: a copy of the file alone, an isolated
        interpreter, the unprivileged user nobody."""
        from failover_harness.probes import reflector

        self._workdir = self._workdir or Path(tempfile.mkdtemp(prefix="fh-netlab-"))
        self._workdir.chmod(0o755)
        copy = self._workdir / "reflector.py"
        shutil.copyfile(reflector.__file__, copy)
        copy.chmod(0o644)
        self._start(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                     system_python3(), "-I", "-S", str(copy), "--port", str(port), "--bind",
                     self.far_ip], "reflector listening", f"reflector on {self.far_ip}:{port}")

    def start_tcp_sink(self, port: int) -> None:
        self._start([sys.executable, "-c", _TCP_SINK, self.far_ip, str(port)], "ready",
                    f"tcp sink on {self.far_ip}:{port}")

    def _start(self, argv: list[str], ready: str, what: str) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", self.far_ns, *argv],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        self._sinks.append(proc)
        assert proc.stdout is not None
        if not proc.stdout.readline().startswith(ready):
            raise LabError(f"{what} did not start")

    def down(self) -> None:
        for proc in self._sinks:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._sinks.clear()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if not self._up:
            return
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                check=False).stdout
        names = {line.split()[0] for line in listed.splitlines() if line.strip()}
        for ns in (self.near_ns, self.far_ns):
            if ns in names:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        self._up = False

    def __enter__(self) -> VethLab:
        return self.up()

    def __exit__(self, *_exc: object) -> None:
        self.down()
