"""The typed event vocabulary: its documented list, validation on write and on read, and
timelines written by earlier code of this version (a lab run, kept in tests/data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from failover_harness import events
from failover_harness.errors import InputError
from failover_harness.events import FlowStart, LossEnd, RunStart
from failover_harness.metrics import compute_metrics
from failover_harness.timeline import Timeline, TimelineEventError, load_timeline

DATA = Path(__file__).resolve().parent.parent / "data" / "timelines"
LAB_RUN = DATA / "lab-tunnel1-baf246e.jsonl"


def test_the_documented_list_is_the_models() -> None:
    doc = events.__doc__ or ""
    start, end = "<!-- vocabulary -->\n", "<!-- /vocabulary -->"
    documented = doc[doc.index(start) + len(start):doc.index(end)].strip()
    assert documented == events.vocabulary_text(), \
        "events.py docstring drifted: paste `python -m failover_harness.events` between the markers"


def test_every_kind_has_one_model() -> None:
    kinds = [k for cls in events.EVENT_TYPES for k in events.kinds_of(cls)]
    assert len(kinds) == len(set(kinds))


def test_a_timeline_of_the_previous_version_still_loads() -> None:
    # Written by a lab game-day of commit baf246e (tests/data/timelines/README.md).
    loaded = load_timeline(LAB_RUN)
    assert loaded.notes == []
    assert isinstance(loaded.events[0], RunStart)
    flows = [e for e in loaded.events if isinstance(e, FlowStart)]
    assert len(flows) == 16 and {f.data.probe for f in flows} == {"icmp", "tcp"}
    assert all(f.data.interval_s == 0.01 for f in flows)
    ends = [e for e in loaded.events if isinstance(e, LossEnd)]
    assert ends and all(e.data.min_duration_s <= e.t - (e.data.start_t or e.t) for e in ends)
    metrics = compute_metrics(loaded.events)
    assert metrics.t0 is not None and metrics.metrics["max_outage_s"].available


def test_emit_refuses_a_field_its_kind_does_not_have(tmp_path: Path) -> None:
    tl = Timeline(tmp_path / "timeline.jsonl")
    try:
        with pytest.raises(TimelineEventError, match=r"flow_start flow:f0: field 'data.interval'"):
            tl.emit("probe", "flow_start", "flow:f0", probe="icmp", src="a", dst="b",
                    interval_s=0.01, interval=0.01)
        with pytest.raises(TimelineEventError, match="kind"):
            tl.emit("probe", "no_such_kind", "flow:f0")
        with pytest.raises(TimelineEventError, match="source"):
            tl.emit("azure", "loss_start", "flow:f0", seq=1)
    finally:
        tl.close()
    assert (tmp_path / "timeline.jsonl").read_text() == ""


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "timeline.jsonl"
    shutil.copy(LAB_RUN, path)
    return path


def test_a_torn_last_line_is_skipped_and_said(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])
    loaded = load_timeline(path)
    assert len(loaded.events) == len(lines) - 1
    assert loaded.notes == [f"timeline.jsonl:{len(lines)}: torn last line skipped (the run "
                            "was killed while writing it)"]


def test_a_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    lines = path.read_text().splitlines()
    lines[9] = lines[9][:30]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"timeline.jsonl:10: not a JSON line"):
        load_timeline(path)


def test_a_foreign_line_names_file_line_and_field(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"interval_s"', '"interval"')
    lines.insert(5, '{"id": 0, "device": "edge1", "action": "shut_interface"}')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"timeline.jsonl:3: field 'data.interval_s'"):
        load_timeline(path)
    del lines[2]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"timeline.jsonl:5: field 'kind'"):
        load_timeline(path)
