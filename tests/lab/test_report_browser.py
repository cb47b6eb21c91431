"""report.html in a real headless Chromium: renders without console errors, chart visible.

Marker `lab`: it launches Debian's /usr/bin/chromium (no sandbox, which needs root). The
screenshot stays in the test's tmp dir (report-screenshot.png) for a person to look at.
"""

from __future__ import annotations

import os
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from failover_harness.reports.render import render_report
from tests.synthetic import SyntheticRun, write_synthetic_timeline

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--window-size=1300,1800"]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed"),
]


def _chromium(profile: Path, *args: str) -> tuple[str, str]:
    """Run chromium in its own process group; on timeout end that group (ours only)."""
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-2000:]
    return out, err


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class _SvgIndex(HTMLParser):
    """Ids of groups inside each <svg>, and how many shapes each group holds."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs: list[dict[str, int]] = []
        self._stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs.append({})
        element_id = dict(attrs).get("id")
        if self.svgs and tag == "path":
            for group in self._stack:
                if group is not None:
                    self.svgs[-1][group] = self.svgs[-1].get(group, 0) + 1
        if tag == "g":
            self._stack.append(element_id)
            if element_id and self.svgs:
                self.svgs[-1].setdefault(element_id, 0)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "g":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "g" and self._stack:
            self._stack.pop()


def _red_pixels(png: Path) -> int:
    """Pixels in the loss / down colour (#c62828)."""
    with Image.open(png) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    close = np.abs(rgb - np.array([0xC6, 0x28, 0x28])).max(axis=2) < 12
    return int(close.sum())


def test_console_capture_catches_errors(tmp_path: Path) -> None:
    """The check below can fail: a page that logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>console.error('broken page')</script></body></html>")
    _, err = _chromium(tmp_path / "profile", "--dump-dom", page.as_uri())
    assert any("broken page" in line for line in _console_messages(err))


def test_report_html_renders_with_chart(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    write_synthetic_timeline(run_dir, SyntheticRun(flows_on_tunnel1=3, flows_on_tunnel2=3,
                                                   azure_gap=(8.0, 9.5)))
    rendered = render_report(run_dir)
    url = rendered.html_path.as_uri()

    dom, err = _chromium(tmp_path / "profile-dom", "--dump-dom", url)
    assert _console_messages(err) == []
    index = _SvgIndex()
    index.feed(dom)
    assert len(index.svgs) == 1
    groups = index.svgs[0]
    # loss episodes and the Azure peer-down band in the same chart, on the same axes
    assert groups.get("loss-episodes-icmp-0", 0) >= 1
    assert groups.get("loss-episodes-icmp-2", 0) >= 1
    assert "loss-episodes-icmp-3" not in groups  # a flow on the surviving tunnel
    peer = "azure-peer-azure_instance_169.254.21.1_peer_169.254.21.2"
    assert groups.get(peer, 0) >= 2  # Connected, down, Connected again
    assert groups.get(peer + "-uncertainty", 0) >= 1
    assert groups.get("azure-samples-azure_bgp_peer_status-ok", 0) >= 1
    assert groups.get("azure-samples-azure_bgp_peer_status-failed", 0) >= 1

    shot = tmp_path / "report-screenshot.png"
    _, err = _chromium(tmp_path / "profile-shot", f"--screenshot={shot}", url)
    assert _console_messages(err) == []
    assert shot.is_file()
    with Image.open(shot) as image:
        assert image.size == (1300, 1800)
    assert _red_pixels(shot) > 2000  # the loss episodes and down bands are on screen
