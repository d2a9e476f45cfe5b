"""The leaderboard in a real browser: Debian's headless Chromium renders the page built from the committed reference
records; the test reads what a person sees (the DOM after scripts ran), checks the numbers against the records,
and that the page logged no console error and fetched nothing from the network. A control page with a script
error and a remote image shows that both checks catch what they look for. The screenshot is kept in
test-artifacts/. Skipped with the reason where Chromium is absent (`.ci/run` installs it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.records import read_records, unique

ROOT = Path(__file__).parents[1]
REFERENCE = ROOT / "results" / "reference"
ARTIFACTS = ROOT / "test-artifacts"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no Chromium here: apt-get install chromium")


def render(page: Path, folder: Path, screenshot: Path | None = None) -> tuple[str, str, str]:
    """(DOM after load, the browser's log, its network log) of a headless Chromium rendering `page`."""
    netlog = folder / f"{page.stem}-netlog.json"
    common = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-default-apps", "--no-pings", "--disable-domain-reliability",
              "--disable-client-side-phishing-detection", "--metrics-recording-only",
              "--enable-logging=stderr", "--v=0", f"--log-net-log={netlog}", "--virtual-time-budget=3000",
              f"--user-data-dir={folder / 'profile'}"]
    out = subprocess.run(common + ["--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    if screenshot is not None:
        shot = subprocess.run(common + [f"--screenshot={screenshot}", "--window-size=1280,2400", page.as_uri()],
                              capture_output=True, text=True, timeout=120)
        assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    return out.stdout, out.stderr, netlog.read_text(errors="replace") if netlog.is_file() else ""


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line and re.search(r"error|uncaught", line, re.I)]


# Chromium's network-traffic annotations (tools/traffic_annotation) of what a page loads: sub-resources, fetch()
# and XHR go through the Blink loader, navigations through the navigation loader. The browser's own requests
# (clock sync, accounts, component updates) carry others and are not the page's.
PAGE_TRAFFIC = {101845102, 63171670}


def remote_requests(netlog: str) -> list[str]:
    """The remote URLs the page itself requested, from the network log."""
    found = re.findall(r'"traffic_annotation":(\d+),"url":"((?:https?|wss?|ftp)://[^"]+)"', netlog)
    return sorted({url for annotation, url in found if int(annotation) in PAGE_TRAFFIC})


class Tables(HTMLParser):
    """Every table as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_the_checks_catch_a_script_error_and_a_remote_fetch(tmp_path):
    page = tmp_path / "control.html"
    page.write_text("<html><body><p>x</p><img src='http://example.invalid/a.png'>"
                    "<script>fetch('https://example.invalid/b.json').catch(function () {});"
                    "undefinedFunction();</script></body></html>")
    dom, log, netlog = render(page, tmp_path)
    assert "<p>x</p>" in dom
    assert console_errors(log), log[-2000:]
    assert remote_requests(netlog) == ["http://example.invalid/a.png", "https://example.invalid/b.json"]


def test_the_leaderboard_renders_the_reference_records_in_chromium(tmp_path, capsys):
    records = unique(read_records(REFERENCE)[0])[0]
    if not records:
        pytest.skip("no reference records in results/reference")
    out = tmp_path / "board"
    assert main(["leaderboard", "--results", str(REFERENCE), "--out", str(out)]) == 0
    capsys.readouterr()
    ARTIFACTS.mkdir(exist_ok=True)
    dom, log, netlog = render(out / "index.html", tmp_path, ARTIFACTS / "leaderboard.png")
    assert console_errors(log) == [], console_errors(log)
    assert remote_requests(netlog) == []
    parser = Tables()
    parser.feed(dom)
    main_table = next(t for t in parser.tables if t and t[0][:4] == ["source", "variant", "n seeds", "top-1 %"])
    shown = {row[0]: row for row in main_table[1:]}
    smoke = [r for r in records if r.protocol == "smoke" and r.task == "embedded"]
    by_source: dict[str, list[float]] = {}
    for r in smoke:
        by_source.setdefault(r.source, []).append(r.metrics["top1"])
    assert set(by_source) <= set(shown)  # every source with records has its row
    for source, values in by_source.items():
        row = shown[source]
        assert row[2] == str(len(values))
        assert float(row[3].split()[0]) == pytest.approx(np.mean(values), abs=0.05 + 1e-9)
    (ARTIFACTS / "leaderboard-rows.json").write_text(json.dumps(main_table, indent=1))
