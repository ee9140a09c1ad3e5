"""`body_from`: an upload's bytes from text or base64, refused clearly when given wrong."""

import pytest

from patchbay.content import body_from
from patchbay.errors import InvalidArgument


def test_text_is_utf8_and_base64_is_decoded() -> None:
    assert body_from("héllo", None) == "héllo".encode()
    assert body_from(None, "AAH/") == b"\x00\x01\xff"
    assert body_from(None, None) is None


@pytest.mark.parametrize(
    ("text", "data", "limit", "message"),
    [
        ("a", "YQ==", None, "Invalid argument 'blob': give body or blob, not both"),
        (None, "not base64!", None, "Invalid argument 'blob': is not valid base64"),
        (None, "YWJj", 2, "Invalid argument 'blob': is 3 bytes, over the 2-byte limit"),
        ("abc", None, 2, "Invalid argument 'body': is 3 bytes, over the 2-byte limit"),
    ],
)
def test_wrong_content_is_refused_naming_the_argument(
    text: str | None, data: str | None, limit: int | None, message: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        body_from(text, data, names=("body", "blob"), limit=limit)
    assert str(refused.value) == message
