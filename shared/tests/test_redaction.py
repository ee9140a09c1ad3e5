"""`Redactor.value`: every secret masked in a result's strings, whichever path finds it (the
whole value searched as JSON text first, then walked only when a secret may be there)."""

from typing import Any

import pytest

from patchbay.redaction import MASK, Redactor

SECRET = "canary-pw-0123"


@pytest.mark.parametrize(
    "value",
    [
        {"rows": [[1, "x"], [2, f"a {SECRET} b"]]},
        {"nested": {SECRET: "as a key"}},
        [("tuple", f"{SECRET}")],
        {"big": [f"row {i}" for i in range(20_000)] + [f"last {SECRET}"]},
        {"surrogate": f"\ud800 {SECRET}"},
        {"beside a non-JSON object": [object(), SECRET]},
    ],
)
def test_a_secret_anywhere_in_a_value_is_masked(value: Any) -> None:
    masked = Redactor([SECRET]).value(value)
    assert SECRET not in repr(masked)
    assert MASK in repr(masked)


@pytest.mark.parametrize("secret", ['quote"d-pw', "back\\slash-pw", "tab\tpw-1", "newline\npw"])
def test_secrets_that_json_escapes_are_masked_too(secret: str) -> None:
    masked = Redactor([secret]).value({"rows": [["ok", f"x{secret}y"]]})
    assert masked == {"rows": [["ok", f"x{MASK}y"]]}


def test_a_value_without_secrets_comes_back_as_it_is() -> None:
    value = {"rows": [[i, f"row {i}"] for i in range(1000)], "cursor": None}
    assert Redactor([SECRET]).value(value) is value


def test_a_call_secret_is_masked_for_that_call_only() -> None:
    redactor = Redactor([SECRET])
    with redactor.call_secrets(["token-abcdef"]):
        assert redactor.value({"a": "token-abcdef"}) == {"a": MASK}
    assert redactor.value({"a": "token-abcdef"}) == {"a": "token-abcdef"}
