"""DeviceChanger: once the journal cannot be written (or opened), what is left changed is
kept in memory, so a restore that got through is not asked again and none is forgotten."""

from __future__ import annotations

from pathlib import Path

import pytest

from failover_harness.journal import Journal, read_journal
from failover_harness.orchestrator.changes import DeviceChanger
from failover_harness.orchestrator.failsafe import FailsafeTimeline
from failover_harness.orchestrator.steps import DeviceChange
from tests.unit.orchestrator_fakes import INVENTORY, T1, T2, World
from tests.unit.test_orchestrator_disk import fill_the_disk

SHUT_T1 = DeviceChange.of("edge1", "shut_interface", "Tunnel1")
SHUT_T2 = DeviceChange.of("edge1", "shut_interface", "Tunnel2")


def changer(world: World, run_dir: Path, journal: Journal | None) -> DeviceChanger:
    timeline = FailsafeTimeline(run_dir / "timeline.jsonl")
    return DeviceChanger(INVENTORY, journal, timeline,
                         lambda name: world.parts().device(INVENTORY, name),
                         sleep=lambda _s: None, say=lambda _m: None)


def close(dc: DeviceChanger) -> None:
    dc.close()
    dc.timeline.close()


def test_a_journal_that_fills_mid_run_falls_back_to_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = World()
    journal = Journal(tmp_path)
    journal.open(Path("inventory.yaml"), "run")
    dc = changer(world, tmp_path, journal)
    dc.apply(SHUT_T1)
    dc.apply(SHUT_T2)
    assert [c.target for c in dc.outstanding] == ["Tunnel2", "Tunnel1"]  # from the journal
    fill_the_disk(tmp_path)
    dc.apply(DeviceChange.undo_of(dc.outstanding[0]))  # its intent cannot be written
    assert world.router.established() == {T1: False, T2: True}
    # The journal still lists both; the changer knows Tunnel2 is back.
    assert [c.target for c in journal.outstanding()] == ["Tunnel2", "Tunnel1"]
    assert [c.target for c in dc.outstanding] == ["Tunnel1"]
    assert dc.restore_outstanding() == []
    assert dc.outstanding == [] and world.router.established() == {T1: True, T2: True}
    assert any(p.startswith("journal: No space left") for p in dc.write_problems)
    assert "cannot write the journal" in capsys.readouterr().err
    close(dc)
    journal.release()


def test_without_a_journal_only_restores_are_made(tmp_path: Path) -> None:
    world = World()
    journal = Journal(tmp_path)
    journal.open(Path("inventory.yaml"), "killed")
    journal.done(journal.intent("edge1", "shut_interface", "Tunnel1"))
    journal.release()
    world.router.shut("Tunnel1")
    dc = changer(world, tmp_path, None)  # recover where the journal cannot be opened
    dc.adopt(read_journal(tmp_path / "journal.jsonl").outstanding)
    with pytest.raises(Exception, match="no journal to record it in"):
        dc.apply(SHUT_T2)
    assert world.router.established() == {T1: False, T2: True}
    assert dc.restore_outstanding() == []
    assert dc.outstanding == [] and world.router.established() == {T1: True, T2: True}
    close(dc)
