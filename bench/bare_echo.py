"""The example connector's `echo` on a bare `MCPServer`: the baseline for `base_overhead.py`.

Same return model, same async function, same description; no patchbay. Run it as a
stdio server with `python bench/bare_echo.py`.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field


class Echoed(BaseModel):
    """What `echo` returns."""

    text: str


# log_level as the base sets it by default (WARNING), so neither side logs per request.
server: MCPServer = MCPServer("bare-echo", log_level="WARNING")


@server.tool()
async def echo(text: Annotated[str, Field(description="Any text.")]) -> Echoed:
    """Return the text unchanged; a quick check that the connector answers."""
    return Echoed(text=text)


if __name__ == "__main__":
    server.run("stdio")
