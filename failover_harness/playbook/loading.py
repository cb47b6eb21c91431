"""Loading a playbook (shape, then its own and the inventory's cross checks) and the
`validate` command's one-line summaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from failover_harness.errors import InputError
from failover_harness.inventory import Inventory, inventory_from_document
from failover_harness.playbook.checks import check_against_inventory, check_playbook
from failover_harness.playbook.model import Playbook
from failover_harness.playbook.repeat import repeat_problems
from failover_harness.playbook.steps import ResetAzureInstance, ResetConnection, step_target
from failover_harness.yamlfile import InputErrors, YamlDocument, raise_all, read_yaml, validate_document


def playbook_from_document(doc: YamlDocument, inventory: Inventory | None = None) -> Playbook:
    pb = validate_document(Playbook, doc)
    problems = check_playbook(pb)
    if inventory is not None:
        from failover_harness.blast_radius import total_outage_problems
        problems += check_against_inventory(pb, inventory) + total_outage_problems(pb, inventory)
        problems += repeat_problems(pb, inventory)
    raise_all(doc.problems_error(problems))
    pb.loaded_from(doc)
    return pb


def load_playbook(path: str | Path, inventory: Inventory | None = None) -> Playbook:
    """Read and validate a playbook; with an inventory, also check every name it uses."""
    return playbook_from_document(read_yaml(path), inventory)


def validate(inventory_path: str | Path, playbook_paths: Sequence[str | Path]) -> list[str]:
    """Validate files only (nothing runs). Returns one summary line per file; raises one
    InputError (InputErrors) listing every problem of every file."""
    errors: list[InputError] = []
    lines: list[str] = []
    inventory: Inventory | None = None
    try:
        inventory = inventory_from_document(read_yaml(inventory_path))
        lines.append(summarize_inventory(inventory))
    except InputErrors as exc:
        errors += exc.errors
    except InputError as exc:
        errors.append(exc)
    for path in playbook_paths:
        try:
            doc = read_yaml(path)
            pb = playbook_from_document(doc, inventory)
            lines.append(summarize_playbook(pb))
        except InputErrors as exc:
            errors += exc.errors
        except InputError as exc:
            errors.append(exc)
    raise_all(errors)
    return lines


def summarize_inventory(inv: Inventory) -> str:
    tunnels = sum(len(d.tunnels) for d in inv.devices.values())
    return (f"{inv.source}: ok - {_count(len(inv.devices), 'device')}, "
            f"{_count(tunnels, 'tunnel')}, {_count(len(inv.vantage_points), 'vantage point')}, "
            f"{_count(len(inv.targets), 'target')}; sha256 {(inv.digest or '')[:12]}")


def summarize_playbook(pb: Playbook) -> str:
    faults = ", ".join(f"{f.action} {f.instance}" if isinstance(f, ResetAzureInstance)
                       else f"{f.action} {f.connection}" if isinstance(f, ResetConnection)
                       else f"{f.action} {step_target(f)}" for f in pb.faults()) or "no faults"
    return (f"{pb.source}: ok - {_count(len(pb.steady_state), 'steady-state check')}, "
            f"{_count(len(pb.method), 'step')} ({faults}), "
            f"{_count(len(pb.rollbacks), 'rollback')}, "
            f"{_count(len(pb.expectations), 'expectation')}; sha256 {(pb.digest or '')[:12]}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
