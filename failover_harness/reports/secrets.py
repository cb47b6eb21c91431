"""Scan what a run wrote for secrets (passwords, keys, tokens) that must never be there."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

MIN_SECRET_LENGTH = 4  # shorter strings match by chance everywhere


class SecretFinding(BaseModel):
    """Where a secret was found. Never holds the secret itself, only its index in the list."""

    file: str
    line: int
    secret_index: int
    encoding: str  # raw, json-escaped, url-encoded, base64


def _forms(secret: str) -> list[tuple[str, bytes]]:
    raw = secret.encode("utf-8")
    forms = [("raw", raw), ("json-escaped", json.dumps(secret)[1:-1].encode("utf-8")),
             ("url-encoded", urllib.parse.quote(secret, safe="").encode("ascii"))]
    if len(raw) >= 8:  # base64 of a short string is too short to mean anything
        forms.append(("base64", base64.b64encode(raw).rstrip(b"=")))
    unique: dict[bytes, str] = {}
    for name, form in forms:
        unique.setdefault(form, name)
    return [(name, form) for form, name in unique.items()]


def scan_for_secrets(run_dir: Path, secrets: Iterable[str]) -> list[SecretFinding]:
    """Every occurrence of any secret in any file under run_dir (recursively, as bytes).

    Raises ValueError for a secret shorter than MIN_SECRET_LENGTH: it cannot be told from
    ordinary text, and silently skipping it would hide a leak.
    """
    wanted: list[tuple[int, str, bytes]] = []
    for index, secret in enumerate(secrets):
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"secret #{index} is shorter than {MIN_SECRET_LENGTH} characters")
        wanted.extend((index, name, form) for name, form in _forms(secret))
    findings: list[SecretFinding] = []
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for index, name, form in wanted:
            start = content.find(form)
            while start != -1:
                findings.append(SecretFinding(
                    file=str(path.relative_to(run_dir)), line=content.count(b"\n", 0, start) + 1,
                    secret_index=index, encoding=name))
                start = content.find(form, start + 1)
    return findings
