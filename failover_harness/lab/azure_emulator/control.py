"""`EmulatorControl`: change the emulator's settings and inject faults while it runs.

    ctl = EmulatorControl.from_state(lab.emulator)
    ctl.set(lro_latency_s=0.2, lro_jitter_s=0, snapshot_at="start")
    ctl.set(throttle=True, writes_bucket=20, writes_refill_per_s=1)
    ctl.add_fault(Fault(kind="throttle", count=2, retry_after_s=1))
    ctl.add_fault(Fault(kind="null_body", match="getLearnedRoutes", count=1))
    ctl.clear_faults()
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

from failover_harness.lab.state import EmulatorState

from .settings import ControlState, Fault, SettingsPatch


class EmulatorControl:
    def __init__(self, control_url: str, ca_bundle: str, identity_header: str, timeout_s: float = 10) -> None:
        self.control_url = control_url.rstrip("/")
        self._headers = {"X-IDENTITY-HEADER": identity_header, "Content-Type": "application/json"}
        self._ssl = ssl.create_default_context(cafile=ca_bundle)
        self._timeout_s = timeout_s

    @classmethod
    def from_state(cls, state: EmulatorState) -> EmulatorControl:
        return cls(state.control_url, state.ca_bundle, Path(state.identity_header_file).read_text().strip())

    def _call(self, method: str, path: str, body: str | None = None) -> ControlState:
        req = urllib.request.Request(self.control_url + path, method=method, headers=self._headers,
                                     data=body.encode() if body is not None else None)
        with urllib.request.urlopen(req, context=self._ssl, timeout=self._timeout_s) as resp:
            return ControlState.model_validate(json.loads(resp.read()))

    def state(self) -> ControlState:
        return self._call("GET", "")

    def set(self, **settings: object) -> ControlState:
        """Patch settings, e.g. set(lro_latency_s=10, snapshot_at="random")."""
        return self._call("PATCH", "/settings", SettingsPatch(dict(settings)).model_dump_json())

    def refill_ratelimit(self) -> ControlState:
        """Fill ARM's token buckets again (as after a quiet minute)."""
        return self._call("POST", "/ratelimit/refill")

    def add_fault(self, fault: Fault) -> ControlState:
        return self._call("POST", "/faults", fault.model_dump_json())

    def clear_faults(self, reset_counters: bool = False) -> ControlState:
        return self._call("DELETE", "/faults" + ("?counters=reset" if reset_counters else ""))
