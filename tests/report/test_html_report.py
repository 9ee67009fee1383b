"""The offline HTML report, built with Allure 3 and opened in headless Chromium, shows the run's tests."""
import json
import subprocess
from pathlib import Path

import pytest

from tests.suite_runner import ROOT

SUITE = """
    import pytest
    from helpers import *

    @strict
    def test_plaintext_is_reset():
        becomes("plaintext is reset", answers("hello", None), RESET, FAST)

    @strict
    def test_plaintext_still_accepted():
        becomes("plaintext is reset after STRICT", answers("hello"), RESET, FAST)

    @gateway
    def test_gateway_rejects_untrusted_ca():
        pytest.skip("not supported: ingress-gateway")
"""


def _script(name: str, *args: Path | str) -> str:
    """Run one of scripts/; exit 3 means Node or Chromium cannot be had here."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / name), *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode == 3:
        pytest.skip(f"{name} cannot run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


#: run conditions that must show on the report's first page
CONDITIONS = ("-p", "fixtures.options", "--mesh-defect", "sidecar-ignores-strict", "--timeout-policy", "7")


@pytest.fixture
def html_report(fake_suite) -> tuple[Path, dict]:
    run = fake_suite(SUITE, *CONDITIONS)
    html = Path(_script("build-report.sh", run.reports / "allure-results", run.reports / "html"))
    tests = json.loads((html.parent / "test-results.json").read_text())["byId"]
    return html, tests


def test_report_is_one_offline_file(html_report):
    html, tests = html_report
    assert sorted(t["name"] for t in tests.values()) == [
        "test_gateway_rejects_untrusted_ca", "test_plaintext_is_reset", "test_plaintext_still_accepted"]
    assert sorted(p.name for p in html.parent.iterdir() if p.suffix in (".js", ".css", ".html")) == ["index.html"]
    assert b"PRIVATE KEY" not in html.read_bytes()


def test_chromium_renders_every_test_with_its_steps(html_report, tmp_path):
    html, tests = html_report
    overview = _screenshot(html, tmp_path / "overview.png")
    assert overview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and overview.stat().st_size > RENDERED_PNG_BYTES
    steps = {"test_plaintext_is_reset": "wait: plaintext is reset: expected RESET, held",
             "test_plaintext_still_accepted": "wait: plaintext is reset after STRICT: expected RESET, NOT held",
             "test_gateway_rejects_untrusted_ca": "not supported: ingress-gateway"}
    for test_id, test in tests.items():
        dom = _rendered(html, tmp_path / f"{test_id}.html", test_id, test["name"])
        assert test["name"] in dom
        assert steps[test["name"]] in dom


#: a screenshot of the rendered overview is larger than this; a blank or half-painted page is smaller
RENDERED_PNG_BYTES = 20_000


def _screenshot(html: Path, output: Path, attempts: int = 3) -> Path:
    """A PNG of the overview; as with the DOM (:func:`_rendered`), a busy machine can end Chromium's
    capture before the page painted (seen in a CI rehearsal: 18,957 bytes), so a small one is taken again."""
    for _ in range(attempts):
        png = Path(_script("screenshot-report.sh", html, output))
        if png.stat().st_size > RENDERED_PNG_BYTES:
            break
    return png


def _rendered(html: Path, output: Path, test_id: str, expected: str, attempts: int = 3) -> str:
    """The DOM of one test's page; a busy machine can end Chromium's dump before the page rendered it."""
    for _ in range(attempts):
        dom = Path(_script("screenshot-report.sh", html, output, test_id)).read_text()
        if expected in dom:
            break
    return dom


def test_first_page_shows_the_verdict_and_the_runs_conditions(html_report, tmp_path):
    """An auditor opening the report sees at once that this run was not conformant, and under a defect."""
    html, _ = html_report
    dom = _rendered(html, tmp_path / "overview.html", "", "sidecar-ignores-strict")
    assert "meshproof conformance: NOT CONFORMANT" in dom
    for shown in ("not conformant", "defects: sidecar-ignores-strict", "--timeout-policy", "7.0", "local"):
        assert shown in dom, shown
