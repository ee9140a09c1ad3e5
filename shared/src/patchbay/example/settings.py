"""Settings of the example connector."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay.settings import ConnectorSettings


class ExampleSettings(ConnectorSettings):
    """`PATCHBAY_EXAMPLE_*`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_EXAMPLE_")

    seed_notes: int = Field(3, ge=0, le=100_000, description="Notes the notebook starts with.")
    max_notes: int = Field(100_000, ge=1, le=1_000_000, description="Notes the notebook holds at most.")
    api_key: SecretStr | None = Field(None, description="An upstream credential (unused; shows secret handling).")
    passphrase: SecretStr | None = Field(None, description="The passphrase check_passphrase compares against.")
