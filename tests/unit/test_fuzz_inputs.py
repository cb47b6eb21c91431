"""Fuzzed inventories and playbooks: whatever the bytes, loading either succeeds or raises an
InputError whose message names the file - never another exception type, never a traceback."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failover_harness.errors import EXIT_BAD_INPUT, InputError
from failover_harness.inventory import Inventory, load_inventory
from failover_harness.playbook import Playbook, load_playbook, validate
from failover_harness.yamlfile import InputErrors, parse_yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY_TEXTS = [p.read_text() for p in sorted((ROOT / "inventories").glob("*.yaml"))]
PLAYBOOK_TEXTS = [p.read_text() for p in sorted((ROOT / "playbooks").glob("*.yaml"))]
LAB = load_inventory(ROOT / "inventories" / "lab.yaml")

FUZZ = settings(max_examples=100, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Words that make mutations land on real fields and values more often than pure noise.
VOCABULARY = ["devices", "edge1", "tunnels", "Tunnel1", "neighbor", "password", "env", "file",
              "keyvault", "vault_url", "azure", "credential", "environment", "method", "action",
              "shut_interface", "wait_until", "condition", "peer", "timeout_s", "check",
              "steady_state", "expectations", "metric", "max", "probes", "from", "to", "kinds",
              "169.254.21.1", "10.0.0.0/16", "-1", "1e999", ".nan", "~", "null", "[]", "{}",
              "&a", "*a", "<<: *a", "!!binary", "!!python/object:os.system", "? ", "%YAML 1.2",
              "---", "...", "\t", "'", '"', "#", ": ", "- ", "\\u0000", "2024-13-45", "0x1F",
              "0o17", "1_000", "yes", "no", "=", "!!set", "!!omap", "|", ">", "@", "`"]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                      st.text(max_size=20), st.sampled_from(VOCABULARY))
json_tree = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)), children,
                        max_size=4)),
    max_leaves=20)


def _check(path: Path, load: Callable[[Path], object]) -> None:
    try:
        load(path)
    except InputError as exc:
        message = str(exc)
        assert exc.exit_code == EXIT_BAD_INPUT
        assert message.strip(), "empty message"
        assert "Traceback" not in message
        errors = exc.errors if isinstance(exc, InputErrors) else [exc]
        for err in errors:
            assert err.file == str(path), message
            assert str(err).startswith(str(path)), message


def _run(content: bytes, load: Callable[[Path], object]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "input.yaml"
        path.write_bytes(content)
        _check(path, load)


def _load_playbook(path: Path) -> Playbook:
    return load_playbook(path, LAB)


def _load_inventory(path: Path) -> Inventory:
    return load_inventory(path)


@st.composite
def text_mutations(draw: st.DrawFn, texts: list[str]) -> bytes:
    lines = draw(st.sampled_from(texts)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "indent",
                                   "truncate"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            at = draw(st.integers(0, len(lines[i])))
            piece = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=6)))
            lines[i] = lines[i][:at] + piece + lines[i][at:]
        elif op == "replace":
            value = draw(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=12)))
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {value}\n"
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "   ", "\t"])) + lines[i].lstrip(" ")
        else:
            lines = lines[:i]
    return "".join(lines).encode("utf-8", "surrogatepass")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def tree_mutations(draw: st.DrawFn, texts: list[str]) -> bytes:
    text = draw(st.sampled_from(texts))
    data = parse_yaml(text.encode(), "x.yaml").data
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths[1:]))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "delete", "add_key"]))
        if op == "replace":
            parent[path[-1]] = draw(json_tree)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(VOCABULARY))] = draw(json_tree)
    return json.dumps(data, default=str).encode()


@FUZZ
@given(text_mutations(INVENTORY_TEXTS))
def test_mutated_inventory_text(content: bytes) -> None:
    _run(content, _load_inventory)


@FUZZ
@given(text_mutations(PLAYBOOK_TEXTS))
def test_mutated_playbook_text(content: bytes) -> None:
    _run(content, _load_playbook)


@FUZZ
@given(tree_mutations(INVENTORY_TEXTS))
def test_mutated_inventory_structure(content: bytes) -> None:
    _run(content, _load_inventory)


@FUZZ
@given(tree_mutations(PLAYBOOK_TEXTS))
def test_mutated_playbook_structure(content: bytes) -> None:
    _run(content, _load_playbook)


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_tree.map(lambda t: json.dumps(t).encode()),
                 st.lists(st.sampled_from(VOCABULARY), max_size=30).map(
                     lambda words: " ".join(words).encode())))
def test_garbage(content: bytes) -> None:
    _run(content, _load_inventory)
    _run(content, _load_playbook)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(tree_mutations(INVENTORY_TEXTS), tree_mutations(PLAYBOOK_TEXTS))
def test_validate_never_raises_anything_else(inventory: bytes, playbook: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        inv_path, pb_path = Path(directory) / "inv.yaml", Path(directory) / "pb.yaml"
        inv_path.write_bytes(inventory)
        pb_path.write_bytes(playbook)
        try:
            lines = validate(inv_path, [pb_path])
        except InputError as exc:
            errors = exc.errors if isinstance(exc, InputErrors) else [exc]
            assert {e.file for e in errors} <= {str(inv_path), str(pb_path)}
        else:
            assert len(lines) == 2 and all(": ok - " in line for line in lines)
