"""The code examples in README.md, as (language, text, line) for the tests that run or
validate them (tests/unit/test_readme.py, tests/lab/test_readme_lab.py)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
_FENCE = re.compile(r"^( *)```([\w-]*)\n(.*?)^\1```[ \t]*$", re.M | re.S)
_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")


@dataclass(frozen=True)
class Example:
    lang: str
    text: str
    line: int  # README.md line of the text's first line

    @property
    def where(self) -> str:
        return f"README.md:{self.line}"


def _readme() -> str:
    return README.read_text()


def blocks(lang: str | None = None) -> list[Example]:
    """Fenced blocks (of one language), in order; a block indented in a list is dedented."""
    text = _readme()
    found = [Example(m[2], textwrap.dedent(m[3]), text.count("\n", 0, m.start(3)) + 1)
             for m in _FENCE.finditer(text)]
    return [b for b in found if lang is None or b.lang == lang]


def spans() -> list[Example]:
    """Inline code spans outside fenced blocks; a table's escaped `\\|` is a plain `|`."""
    text = _readme()
    fenced = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    return [Example("", " ".join(m[1].replace("\\|", "|").split()),
                    text.count("\n", 0, m.start()) + 1) for m in _SPAN.finditer(text)
            if not any(a <= m.start() < b for a, b in fenced)]
