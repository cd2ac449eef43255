"""Chat tests' shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.provider_server import FakeProviderServer


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    """The OpenAI and Anthropic wire protocols on a local port, for one test."""
    srv = FakeProviderServer().start()
    yield srv
    srv.stop()
