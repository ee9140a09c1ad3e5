"""Settings of the example connector."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay.settings import ConnectorSettings


class ExampleSettings(ConnectorSettings):
    """`PATCHBAY_EXAMPLE_*`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_EXAMPLE_")

    seed_notes: int = Field(3, ge=0, le=100_000, description="Notes the notebook starts with.")
    api_key: SecretStr | None = Field(None, description="An upstream credential (unused; shows secret handling).")
