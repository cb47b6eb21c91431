"""`lab up` refuses early with what to do (root, packages, prefix) - checked without root."""

from __future__ import annotations

import pytest

from failover_harness.errors import LabError
from failover_harness.lab import lab, preflight
from failover_harness.lab.topology import LabOptions


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root.*sudo"):
        lab.preflight("fhx", LabOptions())


def test_missing_package_names_it_and_the_install_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 0)
    monkeypatch.setattr(preflight, "required_binaries",
                        lambda options: {"/nonexistent/charon": "strongswan-charon"})
    with pytest.raises(LabError, match="missing packages: strongswan-charon: run "
                                       "scripts/install.sh"):
        lab.preflight("fhx", LabOptions())


def test_required_binaries_follow_the_options() -> None:
    plain = lab.required_binaries(LabOptions(ipsec=False))
    full = lab.required_binaries(LabOptions(bfd=True, loss=[]))
    assert "/usr/sbin/swanctl" not in plain and "/usr/sbin/swanctl" in full
    assert "/usr/lib/frr/bfdd" in full and "/usr/lib/frr/bfdd" not in plain
    assert plain["/usr/sbin/sshd"] == "openssh-server"


@pytest.mark.parametrize("prefix", ["", "1fh", "fh-x", "a" * 11, "f h"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(LabError, match="bad lab prefix"):
        lab.up(prefix)
