"""`echo` on the patchbay base, and nothing else: the base side of `base_overhead.py`.

The same tool as `bare_echo.py` (same model, same async function, same description),
registered through `patchbay.Connector`, so the comparison is the base's cost alone,
not the example connector's dozen other tools. Run it as a stdio server with
`python bench/base_echo.py [--audit-log PATH]`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings


class EchoSettings(ConnectorSettings):
    """`PATCHBAY_BENCHECHO_*`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_BENCHECHO_")


class Echoed(BaseModel):
    """What `echo` returns."""

    text: str


connector: Connector[EchoSettings, None] = Connector(
    "benchecho", title="Bench echo", version="0", settings=EchoSettings, open_world=False
)


@connector.tool("read")
async def echo(text: Annotated[str, Field(description="Any text.")]) -> Echoed:
    """Return the text unchanged; a quick check that the connector answers."""
    return Echoed(text=text)


if __name__ == "__main__":
    from patchbay.cli import main

    main("benchecho", "base_echo:connector", distribution="patchbay")
