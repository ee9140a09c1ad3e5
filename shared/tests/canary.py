"""A connector whose tools try every way of leaking secrets, for the canary tests."""

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.mcpserver import Context
from pydantic import BaseModel, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings, ToolError, runtime_of
from patchbay.credentials import Credential, RefreshingCredential

API_KEY = "canary-api-key-6f1d2b"
PASSWORD = "canary-password-93ac7e"
REFRESHED = "canary-refreshed-token-"
"""Every token the refreshing provider issues starts with this."""
ISSUED: list[str] = []
"""The refreshed tokens issued so far (each use refreshes: they expire inside the margin)."""


class CanarySettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_CANARY_")

    api_key: SecretStr = SecretStr("")


class Said(BaseModel):
    text: str


def issue_token() -> Credential:
    """A token endpoint: a new token each time, valid for a minute (inside the refresh margin)."""
    token = f"{REFRESHED}{len(ISSUED):05d}-a9e4"
    ISSUED.append(token)
    return Credential(token, expires_at=time.time() + 60)


@asynccontextmanager
async def open_upstream(settings: CanarySettings) -> AsyncIterator[RefreshingCredential]:
    """Made in the lifespan without naming a redactor: it must find the running connector's."""
    yield RefreshingCredential("Canary token", issue_token, reauthorize="patchbay-canary auth")


connector: Connector[CanarySettings, RefreshingCredential] = Connector(
    "canary", title="Canary", version="0", settings=CanarySettings, lifespan=open_upstream
)


def _key(ctx: Context) -> str:
    settings: CanarySettings = runtime_of(ctx).settings
    return settings.api_key.get_secret_value()


@connector.tool("read")
async def repeat_setting(ctx: Context) -> Said:
    """Returns the upstream key in its result, as a careless upstream answer might."""
    return Said(text=f"upstream answered with key={_key(ctx)}")


@connector.tool("read", secret_args=["password"])
async def login(user: str, password: str) -> Said:
    """Fails with an exception whose text carries the password."""
    raise ConnectionError(f"login {user}:{password} refused")


@connector.tool("read", secret_args=["password"])
async def echo_password(password: str) -> Said:
    """Returns the secret argument itself."""
    return Said(text=f"you said {password}")


def _route(key: str, user: str) -> str:
    """Fails unexpectedly with `key` in its message, in its own argument and in the caller's locals."""
    raise KeyError(f"no route for {key} as {user}")


@connector.tool("read")
async def crash(ctx: Context) -> Said:
    """An unexpected exception whose text, log line and traceback locals carry the key."""
    key = _key(ctx)
    logging.getLogger("patchbay.canary").warning("about to use key %s", key)
    return Said(text=_route(key, "ada"))


@connector.tool("read", secret_args=["password"])
async def crash_login(password: str) -> Said:
    """An unexpected exception whose traceback carries a secret argument."""
    return Said(text=_route(password, "ada"))


def _token(ctx: Context) -> str:
    return connector.state(ctx).get().value


@connector.tool("read")
def refreshed_in_result(ctx: Context) -> Said:
    """A freshly refreshed token in a result and a log line (a plain def: a worker thread refreshes)."""
    token = _token(ctx)
    logging.getLogger("patchbay.canary").warning("calling upstream with %s", token)
    return Said(text=f"upstream echoed {token}")


@connector.tool("read")
def refreshed_in_error(ctx: Context) -> Said:
    """A freshly refreshed token in the message of an error the client reads."""
    raise ToolError(f"upstream refused {_token(ctx)}")


@connector.tool("read")
def refreshed_crash(ctx: Context) -> Said:
    """A freshly refreshed token in an unexpected exception, its traceback and locals."""
    return Said(text=_route(_token(ctx), "bob"))


@connector.resource("canary://secret/{name}")
async def secret_resource(name: str, ctx: Context) -> str:
    """Returns the key for `shown`; crashes with it in its traceback for anything else."""
    key = _key(ctx)
    if name == "shown":
        return f"resource text with key={key}"
    return _route(key, name)


@connector.prompt()
async def secret_prompt(topic: str, ctx: Context) -> str:
    """Says the key for `shown`; crashes with it in its traceback for anything else."""
    key = _key(ctx)
    if topic == "shown":
        return f"prompt text with key={key}"
    return _route(key, topic)
