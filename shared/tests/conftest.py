"""Shared fixtures: the anyio backend, the two protocol eras, and settings free of the developer's shell."""

import os

import pytest


@pytest.fixture(autouse=True)
def no_connector_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests read settings from what they set themselves, never from the developer's environment
    (a PATCHBAY_EXAMPLE_ALLOW_WRITES=1 left in a shell must not change what a test sees)."""
    for name in list(os.environ):
        if name.startswith(
            (
                "PATCHBAY_EXAMPLE_",
                "PATCHBAY_CANARY_",
                "PATCHBAY_MUTE_",
                "PATCHBAY_PLAIN_",
                "PATCHBAY_HIDDEN_",
                "PATCHBAY_CREDS_",
            )
        ):
            monkeypatch.delenv(name)
