"""Every code example in README.md is run or validated, so the README cannot drift from the
code: the Python (pytest plugin) example runs in an inner pytest against the fake game-day
runner (against the lab: tests/lab/test_readme_lab.py), YAML goes through the loaders, every
`failover-harness` command and flag named exists, make targets and paths exist, the cron
schedule parses, shell blocks pass `bash -n` (deploy/'s systemd units are checked by
tests/unit/test_deploy.py)."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
import typer
import typer.testing
from croniter import croniter

from failover_harness.cli import app
from failover_harness.expectations import MetricName
from failover_harness.inventory import load_inventory
from failover_harness.playbook import AnyStep, Condition, load_playbook
from tests.readme import Example, blocks, spans
from tests.unit.test_pytest_plugin import FAKE_RUNNER

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CHECKED_LANGUAGES = {"sh", "yaml", "cron", "python", ""}  # "": program output, the lab diagram
# Paths the README names as examples of the user's own files, not files of this repository.
USER_PATHS = {"playbooks/x.yaml", "inventories/prod.yaml"}
# The fake runner as a user's README run sees it: a playbook without a fault loses nothing.
README_RUNNER = FAKE_RUNNER + '''
_fake_with_outage = fake_run_gameday


def fake_run_gameday(inventory_path, playbooks, options, say=print, on_session=None):
    global OUTAGE_S
    OUTAGE_S = 2.6 if playbooks[0].faults() else 0.0
    return _fake_with_outage(inventory_path, playbooks, options, say, on_session)
'''


def test_every_example_has_a_checker() -> None:
    langs = {b.lang: b.where for b in blocks()}
    assert set(langs) <= CHECKED_LANGUAGES, f"add a check for {langs}"
    assert {"sh", "yaml", "cron", "python"} <= set(langs)  # the checks below have work


# ---------------------------------------------------------------- Python


def readme_project(pytester: pytest.Pytester) -> Path:
    """The README's pytest example as a user's test file, beside copies of its playbooks."""
    (example,) = blocks("python")
    path = pytester.path / "test_readme_example.py"
    path.write_text(example.text)
    for name in re.findall(r'"(playbooks/[\w.-]+\.yaml)"', example.text):
        (pytester.path / "playbooks").mkdir(exist_ok=True)
        shutil.copy(ROOT / name, pytester.path / name)
    return path


def test_pytest_example_runs(pytester: pytest.Pytester) -> None:
    readme_project(pytester)
    shutil.copy(ROOT / "inventories" / "lab.yaml", pytester.path / "inventory.yaml")
    pytester.makeconftest(README_RUNNER)
    result = pytester.runpytest("-p", "no:cacheprovider", "--failover-inventory",
                                "inventory.yaml")
    result.assert_outcomes(passed=2)


def test_pytest_options_named_exist(pytester: pytest.Pytester) -> None:
    named = {flag for s in spans() if s.text.startswith("pytest ")
             for flag in re.findall(r"--[\w-]+", s.text)}
    assert named >= {"--failover-lab", "--failover-inventory"}
    helptext = pytester.runpytest("--help").stdout.str()
    assert [f for f in sorted(named) if f not in helptext] == []


# ---------------------------------------------------------------- YAML


@pytest.mark.parametrize("example", blocks("yaml"), ids=lambda b: b.where)
def test_yaml_example_loads(example: Example, tmp_path: Path) -> None:
    path = tmp_path / "example.yaml"
    # `...  # fill in: what` marks what the reader fills in; everything else is as printed.
    filled, count = re.subn(r"subscription_id: \.\.\. +# fill in: .*",
                            "subscription_id: 00000000-0000-0000-0000-000000000000", example.text)
    values = "\n".join(line.split(" #")[0] for line in filled.splitlines())  # not comments
    placeholders = re.findall(r":\s*\.\.\.(?!\w)", values)
    assert placeholders == [], f"{example.where}: placeholder without a filling rule here"
    path.write_text(filled)
    if re.search(r"^devices:", example.text, re.M):
        assert count == 1
        inv = load_inventory(path)
        assert inv.devices and inv.azure.connections
    elif re.search(r"^method:", example.text, re.M):
        load_playbook(path)
    else:
        pytest.fail(f"{example.where}: YAML that is neither an inventory nor a playbook")


def test_inventory_example_lists_every_platform() -> None:
    (example,) = [b for b in blocks("yaml") if "platform:" in b.text]
    listed = re.search(r"platform: \w+ +# (.*)", example.text)
    assert listed is not None
    from failover_harness.devices import PLATFORMS
    assert set(listed[1].replace(",", " ").split()) == set(PLATFORMS)


# ---------------------------------------------------------------- shell


def _commands(text: str) -> list[list[str]]:
    """Every `failover-harness ...` command line in text, as words (up to a shell operator)."""
    found = []
    for match in re.finditer(r"(?:^|[\s/])failover-harness[ \t]+([^\n;&|`]*(?:\|[^\s|][^\n;&`]*)?)",
                             text):
        words = match[1].split()
        if words and re.fullmatch(r"[a-z][\w|-]*", words[0]):
            found.append(words)
    return found


def _click(command: list[str], where: str) -> list[str]:
    """Problems with one named command: unknown subcommands, flags or choice values."""
    node: Any = typer.main.get_command(app)
    problems: list[str] = []
    rest = list(command)
    while rest and hasattr(node, "commands"):
        word = rest[0]
        if "|" in word:  # `report render|compare|trend`: each one a subcommand
            problems += [f"{where}: no subcommand {w!r}" for w in word.split("|")
                         if w not in node.commands]
            return problems
        if word not in node.commands:
            problems.append(f"{where}: no subcommand {word!r} (has {sorted(node.commands)})")
            return problems
        node = node.commands[word]
        rest.pop(0)
    options = {opt: p for p in node.params for opt in (*p.opts, *p.secondary_opts)}
    tokens = [w.strip("[]") for w in rest]
    for i, token in enumerate(tokens):
        if not token.startswith("-"):
            continue
        param = options.get(token)
        if param is None:
            problems.append(f"{where}: {' '.join(command[:2])}: no option {token}")
            continue
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        if "|" in value:  # `--timers fast|tuned|azure-default`: each named in the help
            problems += [f"{where}: {token} {v!r} not in its help {param.help!r}"
                         for v in value.split("|") if v not in (param.help or "")]
    return problems


def _all_commands() -> list[tuple[list[str], str]]:
    named = [(c, s.where) for s in spans() for c in _commands(s.text)]
    named += [(c, b.where) for b in blocks() if b.lang in ("sh", "cron") for c in _commands(b.text)]
    return named


def test_every_failover_harness_command_and_flag_exists() -> None:
    named = _all_commands()
    assert len(named) >= 15
    problems = [p for command, where in named for p in _click(command, where)]
    assert problems == []


def test_command_checker_can_fail() -> None:
    assert _click(["lab", "up", "--no-such-flag"], "x") == ["x: lab up: no option --no-such-flag"]
    assert _click(["report", "render|frobnicate"], "x") == ["x: no subcommand 'frobnicate'"]
    assert _click(["lab", "up", "--timers", "fast|warp"], "x")


def test_help_of_every_command_named_runs() -> None:
    runner = typer.testing.CliRunner()
    paths = {tuple(w for w in c[:2] if re.fullmatch(r"[a-z]+", w) and w != "up") for c, _ in
             _all_commands()}
    for path in sorted(paths):
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)


@pytest.mark.parametrize("example", blocks("sh"), ids=lambda b: b.where)
def test_shell_block_parses_and_its_files_exist(example: Example) -> None:
    out = subprocess.run(["bash", "-n"], input=example.text, capture_output=True, text=True)
    assert out.returncode == 0, f"{example.where}: {out.stderr}"
    for path in re.findall(r"(?:^|\s)((?:deploy|docs|scripts|playbooks|inventories)/[\w./*-]+)",
                           example.text):
        assert list(ROOT.glob(path)), f"{example.where}: no {path} in the repository"


def test_make_targets_named_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = {m for b in blocks("sh") for m in re.findall(r"^make (\w+)", b.text, re.M)}
    named |= {m for s in spans() for m in re.findall(r"(?:^|\s)make (\w+)", s.text)}
    assert named >= {"gameday", "test"}
    assert named <= targets


def test_python_modules_named_exist_with_their_flags() -> None:
    for s in spans():
        match = re.search(r"python -m ([\w.]+)(.*)", s.text)
        if match is None:
            continue
        module, args = match[1], match[2]
        assert importlib.util.find_spec(module) is not None, f"{s.where}: no module {module}"
        flags = re.findall(r"--[\w-]+", args)
        if flags and module != "pytest":
            out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                 text=True, timeout=60, cwd=ROOT)
            assert out.returncode == 0 and all(f in out.stdout for f in flags), (s.where, out)
        for path in shlex.split(args):
            if path.startswith("tests/"):
                assert (ROOT / path).exists(), f"{s.where}: no {path}"


def test_repository_paths_named_exist() -> None:
    pattern = re.compile(
        r"^(?:failover_harness|playbooks|inventories|tests|scripts|deploy|docs|\.ci)/[\w./*-]*$")
    named = {(p, s.where) for s in spans() for p in re.split(r",\s*|\s+", s.text)
             if pattern.match(p)}
    assert len(named) >= 10
    missing = [f"{where}: {p}" for p, where in sorted(named)
               if p not in USER_PATHS and not list(ROOT.glob(p))]
    assert missing == []


def test_gameday_output_names_real_metrics() -> None:
    (output,) = [b for b in blocks("") if "expected" in b.text]
    named = re.findall(r"^\s+(?:PASS|FAIL) (\w+) =", output.text, re.M)
    assert len(named) >= 4 and set(named) <= set(get_args(MetricName))


# ---------------------------------------------------------------- schedules


def test_cron_example_parses() -> None:
    (cron,) = blocks("cron")
    lines = [ln for ln in cron.text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines
    for line in lines:
        fields = line.split(None, 6)
        schedule, user, command = " ".join(fields[:5]), fields[5], fields[6]
        assert croniter.is_valid(schedule), f"{cron.where}: {schedule!r}"
        assert re.fullmatch(r"[a-z_][\w-]*", user), f"{cron.where}: user field {user!r}"
        # cron turns an unescaped % into a newline: every % must be written \%
        assert not re.search(r"(?<!\\)%", command), f"{cron.where}: unescaped % in {command!r}"
        assert _commands(command), command
    # The CI-schedule variant in the text uses the same schedule.
    ci = re.findall(r'cron: "([^"]+)"', (ROOT / "README.md").read_text())
    assert ci and all(croniter.is_valid(c) and c == " ".join(lines[0].split()[:5]) for c in ci)


def test_cron_checker_can_fail() -> None:
    assert not croniter.is_valid("0 6 1-7 13 *")


def test_step_kinds_and_conditions_named_are_the_playbook_models() -> None:
    readme = (ROOT / "README.md").read_text()
    listing = readme[readme.index("Steps: `"):readme.index("Expectations compare")]
    named = set(re.findall(r"`(\w+)`", listing))
    actions = {get_args(t.model_fields["action"].annotation)[0] for t in get_args(AnyStep)}
    conditions = set(get_args(Condition))
    assert named == actions | conditions
