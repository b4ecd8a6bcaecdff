"""Settings come from FIG_ variables; a bad value is reported by the variable's name."""

from __future__ import annotations

import pytest

from servicekit import ServiceSettings, SettingsError, load_settings


class CrmLikeSettings(ServiceSettings, kw_only=True, frozen=True):
    sandbox_url: str
    page_size: int = 200


def test_values_are_typed_and_defaults_kept() -> None:
    settings = load_settings(CrmLikeSettings, {"FIG_SANDBOX_URL": "http://sf", "FIG_PORT": "8201"})
    assert settings.port == 8201
    assert settings.page_size == 200
    assert settings.auth_required is True


def test_malformed_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"FIG_PORT \(got 'eighty'\)"):
        load_settings(CrmLikeSettings, {"FIG_SANDBOX_URL": "http://sf", "FIG_PORT": "eighty"})


def test_missing_required_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="FIG_SANDBOX_URL is required"):
        load_settings(CrmLikeSettings, {})
