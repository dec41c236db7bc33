"""The fake Drive server, one per test, with ``SITH_DRIVE_URL`` pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sith.resources.drive import DRIVE_URL_ENV
from tests.resources.fakedrive import FakeDrive


@pytest.fixture
def drive(monkeypatch) -> Iterator[FakeDrive]:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    server = FakeDrive()
    monkeypatch.setenv(DRIVE_URL_ENV, server.url)
    yield server
    server.close()
