"""The poller with the real SDK against the ARM emulator, LROs of varying latency: status
polls go through the poll gate, every LRO sample says when its last "still running" poll was
sent (what the before_done calibration needs), and more calls start once the latency is seen
to vary."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from pydantic import SecretStr

from failover_harness.azure.poller import AzurePoller
from failover_harness.azure.settings import AzureSettings, PollSettings
from failover_harness.events import Sample
from failover_harness.timeline import Timeline

from .azure_emulator_fixtures import RES, TUNNELS, Running, emu, running  # noqa: F401


def test_gated_polls_record_the_last_pending_poll(emu: Running, tmp_path: Path) -> None:  # noqa: F811
    emu.control.set(lro_latency_s=1.0, lro_jitter_s=0.5)
    state = emu.state
    settings = AzureSettings(
        subscription_id=RES.subscription_id, resource_group=RES.resource_group, gateway=RES.gateway,
        connections=sorted({t.connection for t in TUNNELS}), base_url=state.base_url, ca_bundle=state.ca_bundle,
        environment={"IDENTITY_ENDPOINT": SecretStr(state.identity_endpoint),
                     "IDENTITY_HEADER": SecretStr(Path(state.identity_header_file).read_text().strip())},
        poll=PollSettings(sample_interval_s=0.5, call_timeout_s=5.0))
    timeline = Timeline(tmp_path / "timeline.jsonl")
    poller = AzurePoller(settings, timeline).start()
    try:
        time.sleep(6.0)
    finally:
        poller.stop()
        timeline.close()
    lro = [e for e in timeline.events if isinstance(e, Sample) and e.operation != "connections" and e.data.ok]
    assert len(lro) >= 10
    pending = [e for e in lro if e.data.pending_at is not None]
    # The gate polls an LRO when it is likely done (often once), so only some were seen running.
    assert pending
    for e in pending:
        assert e.window is not None and e.window[0] < e.data.pending_at < e.window[1]  # type: ignore[operator]
    assert poller._gate.granted >= len(lro)  # every status poll went through the gate
    starts = sorted(e.window[0] for e in lro if e.window is not None and e.operation == "bgp_peer_status")
    spacing = [b - a for a, b in itertools.pairwise(starts)]
    assert min(spacing) < 0.5  # calls closer than the interval: the overlap grew with the spread
    assert all(e.data.gap_reason != "throttled" for e in timeline.events if isinstance(e, Sample))
