"""The STAMP reflector (failover_harness/probes/reflector.py): its answer to any bytes, its
per-session counts, and the real process (the file alone, `python3 -I -S`) against garbage,
truncated packets and a flood, also as the unprivileged user nobody."""

from __future__ import annotations

import ast
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from failover_harness.probes.reflector import (
    REFLECTED,
    TEST_PACKET_SIZE,
    Sessions,
    from_ntp,
    reflect,
    sender_packet,
    to_ntp,
)
from tests.unit.reflector_proc import REFLECTOR_FILE, running_reflector

SOURCE = ("192.168.10.10", 40000)


@given(st.binary(max_size=2000), st.integers(0, 65535), st.integers(0, 255))
@settings(max_examples=400, deadline=None)
def test_any_bytes_get_no_answer_or_one_no_longer_than_themselves(
        data: bytes, port: int, ttl: int) -> None:
    answer = reflect(data, ("10.0.0.1", port), Sessions(4), received_real=1.7e9, ttl=ttl)
    if len(data) < TEST_PACKET_SIZE:
        assert answer is None
    else:
        assert answer is not None and len(answer) == len(data)
        fields = REFLECTED.unpack_from(answer)
        assert fields[0] == 0  # the session's first packet
        assert fields[5] == int.from_bytes(data[:4], "big")  # the sender's seq, echoed
        assert fields[9] == ttl
        assert answer[TEST_PACKET_SIZE:] == bytes(len(data) - TEST_PACKET_SIZE)  # nothing echoed


@given(st.lists(st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2"]), st.integers(1, 3),
                          st.integers(0, 2)), max_size=60))
def test_each_session_counts_its_own_packets(sends: list[tuple[str, int, int]]) -> None:
    """A session is (address, port, SSID); its reflector seq counts what it delivered."""
    sessions = Sessions()
    seen: dict[tuple[str, int, int], int] = {}
    for seq, (address, port, ssid) in enumerate(sends):
        answer = reflect(sender_packet(seq, 1.7e9 + seq, ssid), (address, port), sessions,
                         received_real=1.7e9 + seq + 0.001, now=1.7e9 + seq + 0.002)
        assert answer is not None
        own, sent, _err, echoed_ssid, received, sender_seq, sender_stamp, *_ = (
            REFLECTED.unpack_from(answer))
        key = (address, port, ssid)
        assert own == seen.get(key, 0) and echoed_ssid == ssid and sender_seq == seq
        seen[key] = own + 1
        assert from_ntp(sender_stamp) == pytest.approx(1.7e9 + seq, abs=1e-6)
        assert from_ntp(received) - from_ntp(sender_stamp) == pytest.approx(0.001, abs=1e-6)
        assert from_ntp(sent) - from_ntp(received) == pytest.approx(0.001, abs=1e-6)


def test_sessions_are_bounded_least_recent_first() -> None:
    sessions = Sessions(max_sessions=2)
    assert [sessions.next_seq(k) for k in [("a", 1, 0), ("b", 1, 0), ("a", 1, 0)]] == [0, 0, 1]
    sessions.next_seq(("c", 1, 0))  # evicts b, the least recent
    assert len(sessions) == 2
    assert sessions.next_seq(("a", 1, 0)) == 2 and sessions.next_seq(("b", 1, 0)) == 0


@given(st.floats(0, 4.1e9, allow_nan=False))  # 1970 .. 2099, across NTP's 2036 rollover
def test_ntp_timestamps_round_trip(t: float) -> None:
    assert from_ntp(to_ntp(t)) == pytest.approx(t, abs=1e-6)


def test_the_file_imports_only_the_standard_library() -> None:
    tree = ast.parse(REFLECTOR_FILE.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert names and names <= set(sys.stdlib_module_names) | {"__future__"}, names


def abuse_and_check(port: int) -> None:
    """Garbage, truncated test packets and a flood from many ports; then a test packet still
    gets its answer. No answer is ever longer than what was sent from that socket."""
    rng = random.Random(12)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(32)]
    try:
        sent_sizes: dict[int, set[int]] = {}
        for i in range(6000):
            sock = senders[i % len(senders)]
            kind = i % 3
            size = (rng.randrange(0, TEST_PACKET_SIZE) if kind == 0 else
                    rng.randrange(TEST_PACKET_SIZE, 1400) if kind == 1 else TEST_PACKET_SIZE)
            data = (rng.randbytes(size) if kind != 2 else sender_packet(i, time.time(), i))
            sent_sizes.setdefault(i % len(senders), set()).add(len(data))
            try:
                sock.sendto(data, ("127.0.0.1", port))
            except OSError:
                pass  # our own buffer full: a flood it is
        time.sleep(0.3)
        for n, sock in enumerate(senders):
            sock.setblocking(False)
            while True:
                try:
                    answer = sock.recv(65535)
                except BlockingIOError:
                    break
                assert len(answer) >= TEST_PACKET_SIZE and len(answer) in sent_sizes[n]
        probe = senders[0]
        probe.setblocking(True)
        probe.settimeout(2.0)
        probe.sendto(sender_packet(7, time.time(), 9), ("127.0.0.1", port))
        while True:  # answers to the flood may still be queued: skip to ours
            answer = probe.recv(65535)
            fields = REFLECTED.unpack_from(answer)
            if fields[5] == 7 and fields[3] == 9:
                break
        assert len(answer) == TEST_PACKET_SIZE
    finally:
        for sock in senders:
            sock.close()


def test_the_process_survives_garbage_truncation_and_floods() -> None:
    with running_reflector() as (proc, port):
        abuse_and_check(port)
        assert proc.poll() is None


@pytest.fixture
def world_readable_copy() -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="fh-reflector-"))
    try:
        workdir.chmod(0o755)
        copy = workdir / "reflector.py"
        shutil.copyfile(REFLECTOR_FILE, copy)
        copy.chmod(0o644)
        yield copy
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.lab  # root, to become nobody
def test_as_nobody_on_the_system_interpreter_alone(world_readable_copy: Path) -> None:
    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    assert python is not None, "no system python3: run scripts/install.sh"
    with running_reflector(argv_prefix=("setpriv", "--reuid=nobody", "--regid=nogroup",
                                        "--clear-groups"), python=python,
                           file=world_readable_copy) as (proc, port):
        status = Path(f"/proc/{proc.pid}/status").read_text()
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid) == 65534 and int(uid) != os.geteuid()
        abuse_and_check(port)
        assert proc.poll() is None
