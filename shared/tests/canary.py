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


@connector.tool("read")
async def crash(ctx: Context) -> Said:
    """An unexpected exception whose text and log line carry the key."""
    logging.getLogger("patchbay.canary").warning("about to use key %s", _key(ctx))
    raise KeyError(f"no route for {_key(ctx)}")
