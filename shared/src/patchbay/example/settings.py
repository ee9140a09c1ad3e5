"""Settings of the example connector."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from patchbay.scope import Allowlist, Kind
from patchbay.settings import ConnectorSettings

SHELVES = Kind(
    noun="shelves",
    grammar="shelf or shelf/book",
    example="fiction,poetry/odes-",
    segments=(r"[a-z0-9-]{1,63}", r"[^/]+"),
    open_ended=True,
    min_segments=1,
)


class ShelfAllowlist(Allowlist):
    """Library shelves, and books by id prefix: `fiction`, `poetry/odes-`; case-sensitive."""

    kind = SHELVES


class ExampleSettings(ConnectorSettings):
    """`PATCHBAY_EXAMPLE_*`."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_EXAMPLE_")

    seed_notes: int = Field(3, ge=0, le=100_000, description="Notes the notebook starts with.")
    max_notes: int = Field(100_000, ge=1, le=1_000_000, description="Notes the notebook holds at most.")
    api_key: SecretStr | None = Field(None, description="An upstream credential (unused; shows secret handling).")
    passphrase: SecretStr | None = Field(None, description="The passphrase check_passphrase compares against.")
    library_url: str | None = Field(
        None, description="URL of a library service (shelves of books) the library tools read from."
    )
    shelves: ShelfAllowlist = Field(
        default_factory=ShelfAllowlist,
        description="Library shelves (and shelf/prefix/ of book ids) the library tools may read, comma-separated.",
    )
    all_shelves: bool = Field(False, description="Allow every shelf of the library (logged as a warning).")
