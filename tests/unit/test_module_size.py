"""House rule (#11): no module in failover_harness/ over 400 lines, so a newcomer can read
one in a sitting. Split a module that grows past it along its seams (see README Development);
only pure data tables are exempt, each named here with the reason."""

from __future__ import annotations

from pathlib import Path

import failover_harness

MAX_LINES = 400
PACKAGE = Path(failover_harness.__file__).parent

# Pure tables: long because they list many similar things, not because they hold many ideas.
TABLES = {
    "events.py": "one pydantic model per timeline event kind, in one discriminated union",
}


def _sizes() -> dict[str, int]:
    return {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines())
            for path in sorted(PACKAGE.rglob("*.py"))}


def test_no_module_over_400_lines() -> None:
    too_long = {name: n for name, n in _sizes().items()
                if n > MAX_LINES and name not in TABLES}
    assert not too_long, (f"modules over {MAX_LINES} lines (split them by what each part is): "
                          + ", ".join(f"{name} ({n})" for name, n in too_long.items()))


def test_exemptions_are_still_needed() -> None:
    # An exemption that no longer applies (file gone or short again) is dropped, so the
    # list stays true.
    sizes = _sizes()
    stale = sorted(name for name in TABLES if sizes.get(name, 0) <= MAX_LINES)
    assert not stale, f"drop these from the exemptions: {stale}"
