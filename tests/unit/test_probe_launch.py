"""How the orchestrator starts the probe worker: which interpreter, how it enters a namespace."""

from __future__ import annotations

import sys

from failover_harness.orchestrator.probe_monitor import probe_launch
from failover_harness.probes.flows import FlowSpec
from failover_harness.probes.process import ProbeProcess

FLOWS = [FlowSpec(id="f0", kind="icmp", dst="10.0.1.4", icmp_id=7)]


def test_defaults_are_this_interpreter_and_ip_netns_exec() -> None:
    python, netns_exec = probe_launch({})
    assert python == sys.executable
    proc = ProbeProcess(FLOWS, lambda _r: None, netns="fh-host", python=python, netns_exec=netns_exec)
    assert proc.command == ["ip", "netns", "exec", "fh-host", sys.executable, "-m", "failover_harness.probes.worker"]


def test_environment_names_a_setcap_interpreter_and_a_namespace_helper() -> None:
    python, netns_exec = probe_launch({"FAILOVER_HARNESS_PROBE_PYTHON": "/opt/fh/venv/bin/python-probe",
                                       "FAILOVER_HARNESS_NETNS_EXEC": "/opt/fh/bin/netns-enter --net=/run/netns/{netns}"})
    proc = ProbeProcess(FLOWS, lambda _r: None, netns="lab-host", python=python, netns_exec=netns_exec)
    assert proc.command == ["/opt/fh/bin/netns-enter", "--net=/run/netns/lab-host",
                            "/opt/fh/venv/bin/python-probe", "-m", "failover_harness.probes.worker"]
    plain = ProbeProcess(FLOWS, lambda _r: None, python=python, netns_exec=netns_exec)
    assert plain.command == ["/opt/fh/venv/bin/python-probe", "-m", "failover_harness.probes.worker"]
