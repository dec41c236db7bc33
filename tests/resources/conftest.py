"""Drive's answers mocked per test (``responses``): gdown never reaches the network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.resources.fakedrive import FakeDrive


@pytest.fixture
def drive() -> Iterator[FakeDrive]:
    fake = FakeDrive().start()
    yield fake
    fake.stop()
