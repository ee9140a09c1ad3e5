"""A connector whose tools try every way of leaking secrets, for the canary tests."""

import logging

from mcp.server.mcpserver import Context
from pydantic import BaseModel, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay import Connector, ConnectorSettings, runtime_of

API_KEY = "canary-api-key-6f1d2b"
PASSWORD = "canary-password-93ac7e"


class CanarySettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="PATCHBAY_CANARY_")

    api_key: SecretStr = SecretStr("")


class Said(BaseModel):
    text: str


connector: Connector[CanarySettings, None] = Connector("canary", title="Canary", version="0", settings=CanarySettings)


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
