"""Each server worker builds its app through `tuned_app`: the named factory, then the collector tuned."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from servicekit.server import FACTORY_ENV, tuned_app

BUILT: list[object] = []


def build() -> object:
    """A stand-in app factory (`tests.servicekit.test_server:build`)."""
    app = object()
    BUILT.append(app)
    return app


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_tuned_app_builds_the_named_factory_then_keeps_the_collector_off_the_hot_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FACTORY_ENV, "tests.servicekit.test_server:build")
    before = gc.get_freeze_count()

    app = tuned_app()

    assert app is BUILT[-1]
    assert gc.get_threshold()[0] == 100_000
    assert gc.get_freeze_count() > before  # what start-up built is no longer rescanned


def test_tuned_app_without_a_factory_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FACTORY_ENV, raising=False)
    with pytest.raises(KeyError, match=FACTORY_ENV):
        tuned_app()
