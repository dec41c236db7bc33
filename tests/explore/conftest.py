"""A real browser for the explorer's tests: Playwright driving Debian's Chromium.

``SITH_CHROMIUM`` overrides the browser path (default ``/usr/bin/chromium``). Without a
browser the browser tests skip, unless ``SITH_REQUIRE_BROWSER=1`` (set by ``.ci/run``),
where they fail. ``SITH_SCREENSHOTS=docs/images`` saves the screenshots there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SITH_CHROMIUM", "/usr/bin/chromium")


def _missing(message: str) -> None:
    if os.environ.get("SITH_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[dev]'")
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set SITH_CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh tab; the test fails if the page logged any console error or threw."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert errors == [], f"console errors: {errors}"


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: ``$SITH_SCREENSHOTS`` if set, else a temporary folder."""
    out = Path(os.environ.get("SITH_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out
