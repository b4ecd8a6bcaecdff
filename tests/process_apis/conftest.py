"""Fixtures of the process API tests: the fake system APIs served once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.process_apis.fake_systems import Systems, serve_systems
from tests.process_apis.fakes import opportunity, rheinwerk


@pytest.fixture(scope="session")
def served() -> Iterator[Systems]:
    with serve_systems() as systems:
        yield systems


@pytest.fixture
def systems(served: Systems) -> Systems:
    """The served fakes, emptied and seeded with the two demo opportunities."""
    served.reset(opportunity(), rheinwerk())
    return served
