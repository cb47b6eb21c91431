"""Findings: what a section's numbers mean, in plain words, from its timeline alone (no I/O).

From the prediction written before the fault (events.PredictionMade) and the metrics: which
side's detection bounded the outage and by which timer, each measured value against its
predicted window (outside it is a finding of its own, whatever the verdict), which flows
lost against which should have, the two instances' different fates, and the change that
would shorten the outage most.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from failover_harness.events import AzurePeer, Event, PredictionMade
from failover_harness.metrics import MetricValue, RunMetrics
from failover_harness.metrics.values import fmt
from failover_harness.prediction import AZURE_HOLD_S, Prediction, TunnelPrediction, Window

FindingKind = Literal["bound", "prediction", "outside_prediction", "flows", "asymmetry", "advice",
                      "vantage"]  # vantage: reports/vantage.py


class Finding(BaseModel):
    kind: FindingKind
    text: str
    metric: str | None = None


COMPARED = (("onprem_detection_s", "onprem_detection"), ("azure_detection_s", "azure_detection"),
            ("max_outage_s", "blackhole"))


def prediction_of(events: Sequence[Event]) -> Prediction | None:
    made = [e for e in events if isinstance(e, PredictionMade)]
    return Prediction.model_validate(made[0].data.model_dump()) if made else None


def _s(m: MetricValue | None) -> str:
    return f"{fmt(m.value)} s" if m is not None and m.available else "?"


def _known(m: MetricValue | None) -> bool:
    return m is not None and m.available and m.value is not None


def _timer(w: Window) -> str:
    if w.bound_by == "BGP hold timer":
        return f"its BGP hold timer is {fmt(w.timer_s)} s"
    if w.bound_by == "BFD":
        return f"BFD detects in {fmt(w.timer_s)} s"
    return w.why


def bound(tp: TunnelPrediction | None, m: dict[str, MetricValue]) -> Finding | None:
    outage, onprem, azure = m.get("max_outage_s"), m.get("onprem_detection_s"), m.get("azure_detection_s")
    if not _known(outage):
        return None
    assert outage is not None and outage.value is not None
    if outage.value == 0:
        return Finding(kind="bound", metric="max_outage_s",
                       text="No flow lost a probe after the fault: nothing bounded an outage.")
    if _known(azure) and _known(onprem) and azure.value > onprem.value:  # type: ignore[union-attr,operator]
        timer = (f": {_timer(tp.azure_detection)}" if tp is not None else "")
        return Finding(kind="bound", metric="azure_detection_s", text=(
            f"Azure's side bounded the outage ({_s(outage)}): Azure kept the dead path "
            f"{azure.text()}{timer}; the on-prem router noticed in {_s(onprem)}."))  # type: ignore[union-attr]
    if _known(onprem):
        return Finding(kind="bound", metric="onprem_detection_s", text=(
            f"The on-prem side bounded the outage ({_s(outage)}): the router noticed in "
            f"{_s(onprem)}, Azure in {_s(azure)}."))
    return None


def compared(tp: TunnelPrediction, m: dict[str, MetricValue]) -> list[Finding]:
    out = []
    for metric, attr in COMPARED:
        window: Window = getattr(tp, attr)
        value = m.get(metric)
        if value is None or not value.available:
            reason = value.reason if value is not None else "not computed"
            out.append(Finding(kind="prediction", metric=metric, text=(
                f"{metric}: predicted {window.text()}; not measured ({reason}).")))
            continue
        if metric == "max_outage_s" and value.value == 0 and tp.role in ("ecmp", "unknown"):
            # No flow rode the failed path: nothing to hold the blackhole window against.
            out.append(Finding(kind="prediction", metric=metric, text=(
                f"{metric}: no flow lost a probe: none was hashed onto {tp.interface}, so the "
                f"predicted {window.text()} for flows on it was not tested.")))
        elif window.agrees(value.lo, value.hi):
            out.append(Finding(kind="prediction", metric=metric, text=(
                f"{metric}: measured {value.text()}, inside the predicted {window.text()}.")))
        else:
            side = "later" if (value.lo or 0) > window.hi else "sooner"
            out.append(Finding(kind="outside_prediction", metric=metric, text=(
                f"{metric}: measured {value.text()}, OUTSIDE the predicted {window.text()}: "
                f"it came {side} than {window.bound_by} allows; something else "
                f"{'held it up' if side == 'later' else 'ended it'}.")))
    return out


def flows(tp: TunnelPrediction, m: dict[str, MetricValue]) -> Finding | None:
    lost, clean = m.get("flows_with_loss"), m.get("flows_without_loss")
    if not (_known(lost) and _known(clean)):
        return None
    assert lost is not None and clean is not None
    n_lost, n_clean = int(lost.value or 0), int(clean.value or 0)
    text = (f"{n_lost} of {n_lost + n_clean} flows lost probes; predicted: {tp.affected} "
            f"(path role {tp.role}: {tp.role_why}).")
    contrary = ((tp.role == "primary" and n_clean > 0) or (tp.role in ("backup", "no_path")
                                                           and n_lost > 0))
    return Finding(kind="outside_prediction" if contrary else "flows", metric="flows_with_loss",
                   text=text + (" That contradicts the path role." if contrary else ""))


def asymmetry(events: Sequence[Event], metrics: RunMetrics,
              prediction: Prediction) -> list[Finding]:
    fault, since = metrics.fault, metrics.fault_start
    out: list[Finding] = []
    if fault is None or since is None:
        return out
    until = metrics.restore_start if metrics.restore_start is not None else metrics.t_end
    for e in events:
        if (isinstance(e, AzurePeer) and since < e.t <= until and e.data.state != "Connected"
                and not e.subject.endswith(f"/peer:{fault.azure_peer}")
                and e.data.previous == "Connected"):
            out.append(Finding(kind="asymmetry", text=(
                f"The surviving path faltered too: {e.subject.removeprefix('azure:')} left "
                f"Connected ({e.data.state}) {fmt(e.t - since)} s after the fault.")))
    roles = {t.name: t.role for t in prediction.tunnels}
    if len(set(roles.values())) > 1:
        text = "; ".join(f"{name} is {role}" for name, role in roles.items())
        out.append(Finding(kind="asymmetry", text=(
            f"The instances are not equal for Azure's flows ({text}): the same fault on "
            f"another tunnel costs a different share of the flows.")))
    return out


def advice(tp: TunnelPrediction, m: dict[str, MetricValue]) -> Finding | None:
    outage = m.get("max_outage_s")
    if not _known(outage) or not outage.value:  # type: ignore[union-attr]
        return None
    w = tp.azure_detection
    if w.bound_by == "BGP hold timer":
        return Finding(kind="advice", text=(
            f"What would shorten the outage most: a shorter BGP hold time on {tp.name}'s "
            f"session to {tp.neighbor} (now {fmt(w.timer_s)} s; BGP uses the smaller of both "
            f"sides' hold times, so the router's setting decides, assuming Azure accepts it: "
            f"its own is {fmt(AZURE_HOLD_S)} s). Flows on the dead path lose about the hold "
            f"time. BFD would do more, but Azure VPN Gateway does not offer it."
            + (f" If the fault stops IKE too, DPD ({fmt(tp.dpd_s)} s) ends it sooner."
               if tp.dpd_s and w.timer_s and tp.dpd_s < w.timer_s else "")))
    if w.bound_by == "BFD":
        return Finding(kind="advice", text=(
            f"BFD already bounds Azure's detection at {fmt(w.timer_s)} s; what is left is "
            f"Azure moving the flows. Shorter BFD intervals would shave a little more."))
    return None


def findings(events: Sequence[Event], metrics: RunMetrics) -> list[Finding]:
    """The section's findings (empty without a fault)."""
    if metrics.fault is None:
        return []
    prediction = prediction_of(events)
    fault = metrics.fault
    tp = prediction.for_tunnel(fault.device, fault.interface, fault.onprem_neighbor) \
        if prediction else None
    m = metrics.metrics
    out = [f for f in [bound(tp, m)] if f is not None]
    if prediction is None or tp is None:
        out.append(Finding(kind="prediction", text=(
            "No prediction for this fault in the timeline: measured values stand alone.")))
        return out
    out += compared(tp, m)
    out += [f for f in [flows(tp, m)] if f is not None]
    out += asymmetry(events, metrics, prediction)
    out += [f for f in [advice(tp, m)] if f is not None]
    return out
