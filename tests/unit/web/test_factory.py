"""create_app: injected settings win; without them the environment and file are loaded."""

import json

import pytest

from service import create_app
from service.runtime.settings import ConfigurationError, Settings


def test_injected_settings_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings passed to the factory are used as given, whatever the environment says."""
    monkeypatch.setenv("CALCULATOR_PRECISION", "3")
    app = create_app(Settings(precision=7))
    result = app.test_client().get("/divide?a=1&b=3").get_data(as_text=True)
    assert '"result":0.3333333}' in result


def test_settings_are_loaded_when_not_given(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without settings the factory reads the environment and logs the config source."""
    monkeypatch.setenv("CALCULATOR_PRECISION", "3")
    app = create_app()
    assert app.test_client().get("/divide?a=1&b=3").get_json()["result"] == 0.333
    messages = [json.loads(line)["message"] for line in capsys.readouterr().out.splitlines()]
    assert any("not found; using defaults and environment" in text for text in messages)


def test_bad_environment_raises_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configuration problem surfaces as ConfigurationError before any app exists."""
    monkeypatch.setenv("CALCULATOR_ROUNDING", "sometimes")
    with pytest.raises(ConfigurationError, match="rounding"):
        create_app()


def test_each_app_is_independent() -> None:
    """Two apps from the factory share no settings or metrics."""
    first, second = create_app(Settings(precision=2)), create_app(Settings(precision=9))
    first.test_client().get("/add?a=1&b=1")
    assert first.test_client().get("/divide?a=2&b=3").get_json()["result"] == 0.67
    metrics = second.test_client().get("/metrics").get_data(as_text=True)
    assert 'route="/add"' not in metrics
