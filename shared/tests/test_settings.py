"""Settings come from PATCHBAY_<ID>_* variables and the command line, and say what to fix."""

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import SecretStr

from patchbay.cli import build_parser
from patchbay.example.settings import ExampleSettings
from patchbay.settings import SettingsError


def test_defaults_are_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ExampleSettings.load()
    assert settings.allow_writes is False
    assert settings.confirm == "elicit"
    assert (settings.transport, settings.host) == ("stdio", "127.0.0.1")
    assert settings.stateful is False
    assert settings.is_loopback
    assert not settings.has_auth


def test_environment_uses_the_connector_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_EXAMPLE_ALLOW_WRITES", "1")
    monkeypatch.setenv("PATCHBAY_EXAMPLE_AUTH_TOKENS", "tok-one, tok-two")
    monkeypatch.setenv("PATCHBAY_OTHER_ALLOW_WRITES", "0")  # another connector's setting
    settings = ExampleSettings.load()
    assert settings.allow_writes is True
    assert [t.get_secret_value() for t in settings.auth_tokens] == ["tok-one", "tok-two"]
    assert "tok-one" not in repr(settings)


def test_command_line_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_EXAMPLE_PORT", "9000")
    flags = vars(build_parser("example", distribution="patchbay").parse_args(["--port", "9100", "--allow-writes"]))
    settings = ExampleSettings.load(flags)
    assert (settings.port, settings.allow_writes) == (9100, True)


def test_errors_name_the_variable_and_flag_and_never_echo_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_EXAMPLE_PORT", "eighty")
    monkeypatch.setenv("PATCHBAY_EXAMPLE_CONFIRM", "sometimes-secret-value")
    with pytest.raises(SettingsError) as caught:
        ExampleSettings.load()
    message = str(caught.value)
    assert "invalid setting PATCHBAY_EXAMPLE_PORT (--port)" in message
    assert "invalid setting PATCHBAY_EXAMPLE_CONFIRM (--confirm)" in message
    assert "eighty" not in message
    assert "sometimes-secret-value" not in message


def test_secret_values_cover_every_secret_setting(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("# comment\nfrom-file-token\n\n")
    settings = ExampleSettings.load(
        {"api_key": SecretStr("the-api-key"), "auth_tokens": "a-token", "auth_token_file": token_file}
    )
    assert set(settings.secret_values()) == {"the-api-key", "a-token", "from-file-token"}
    assert [t.get_secret_value() for t in settings.bearer_tokens()] == ["a-token", "from-file-token"]


def test_unreadable_token_file_names_the_variable(tmp_path: Path) -> None:
    settings = ExampleSettings.load({"auth_token_file": tmp_path / "missing"})
    with pytest.raises(SettingsError, match="PATCHBAY_EXAMPLE_AUTH_TOKEN_FILE: cannot read"):
        settings.bearer_tokens()


def test_a_settings_class_must_use_its_connector_prefix() -> None:
    from patchbay import Connector

    with pytest.raises(ValueError, match="env_prefix='PATCHBAY_NOTES_'"):
        Connector("notes", title="t", version="0", settings=ExampleSettings)


def test_a_conventional_variable_fills_a_setting_its_own_variable_leaves_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    class Conventional(ExampleSettings):
        env_fallbacks: ClassVar[Mapping[str, str]] = {"state_key": "EXAMPLE_SERVICE_KEY"}

    monkeypatch.setenv("EXAMPLE_SERVICE_KEY", "from-the-service-variable")
    settings = Conventional.load()
    assert settings.state_key is not None and settings.state_key.get_secret_value() == "from-the-service-variable"
    assert "from-the-service-variable" in set(settings.secret_values())  # redacted like the setting itself
    monkeypatch.setenv("PATCHBAY_EXAMPLE_STATE_KEY", "own-variable")
    assert Conventional.load().state_key.get_secret_value() == "own-variable"  # type: ignore[union-attr]
    assert Conventional.load({"state_key": "flag"}).state_key.get_secret_value() == "flag"  # type: ignore[union-attr]
    monkeypatch.delenv("PATCHBAY_EXAMPLE_STATE_KEY")
    assert ExampleSettings.load().state_key is None  # only a connector that names the variable reads it
