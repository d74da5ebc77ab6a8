"""The built book reads offline: a headless Chromium typesets a chapter's formulas from file://.

Runs after ``make book`` (CI: ``make book-test``); skipped when ``_build/html`` or Chromium is
missing. Networking is off: the browser gets an unreachable proxy and a resolver that finds no
host, and when the test runs as root it also runs in a fresh network namespace with no link.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
PAGE = HTML / "notebooks" / "04_vae.html"  # the ELBO: inline and display formulas


def chromium() -> str | None:
    """Return the Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def offline_prefix() -> list[str]:
    """Return a command prefix that runs a program with no network, where that is allowed."""
    unshare = shutil.which("unshare")
    if unshare and os.geteuid() == 0:
        if subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
            return [unshare, "-n"]
    return []


def browse(url: str, *extra: str, budget_ms: int = 20000) -> subprocess.CompletedProcess:
    """Run headless Chromium on url with networking off and return the finished process."""
    cmd = [*offline_prefix(), chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
           "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
           "--host-resolver-rules=MAP * ~NOTFOUND", f"--virtual-time-budget={budget_ms}",
           "--user-data-dir=" + str(REPO / "_build" / ".chromium-profile"), *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


pytestmark = [
    pytest.mark.skipif(not PAGE.is_file(), reason=f"{PAGE} absent: run `make book` first"),
    pytest.mark.skipif(chromium() is None, reason="no Chromium: `apt-get install chromium`"),
]


def test_no_page_loads_a_script_or_style_from_the_network():
    from bs4 import BeautifulSoup

    remote = []
    for page in HTML.rglob("*.html"):
        soup = BeautifulSoup(page.read_text(errors="replace"), "html.parser")
        for tag, attr in (("script", "src"), ("link", "href")):
            for el in soup.find_all(tag):
                url = el.get(attr) or ""
                if url.startswith(("http:", "https:", "//")) and (
                        tag == "script" or "stylesheet" in (el.get("rel") or [])):
                    remote.append(f"{page.relative_to(HTML)}: {url}")
    assert not remote, "\n".join(sorted(set(remote))[:20])


def test_formulas_are_typeset_offline_from_file_url():
    from bs4 import BeautifulSoup

    source = BeautifulSoup(PAGE.read_text(), "html.parser")
    n_math = len(source.select(".math"))
    assert n_math >= 5, "the chosen page should hold formulas"
    proc = browse(PAGE.as_uri(), "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = BeautifulSoup(proc.stdout, "html.parser")
    containers = dom.find_all("mjx-container")
    assert len(containers) >= n_math, f"{len(containers)} typeset of {n_math} formulas"
    for el in dom(["script", "style", "noscript"]):
        el.decompose()
    text = dom.get_text()
    assert "\\(" not in text and "\\[" not in text, "raw LaTeX left on the page"
