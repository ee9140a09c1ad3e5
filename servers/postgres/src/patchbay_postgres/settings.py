"""Settings of the PostgreSQL connector (`PATCHBAY_POSTGRES_*`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from patchbay.settings import ConnectorSettings


class PostgresSettings(ConnectorSettings):
    """Which databases, and how much a query may take."""

    model_config = SettingsConfigDict(env_prefix="PATCHBAY_POSTGRES_")
    cli_flags: ClassVar[frozenset[str]] = ConnectorSettings.cli_flags | {"require_non_superuser"}

    dsn: SecretStr | None = Field(None, description="Connection string of the database named 'default'.")
    databases: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Named databases: a JSON object {name: dsn} in the environment, "
        "--database NAME=DSN on the command line.",
    )
    require_non_superuser: bool = Field(
        False, description="Refuse to start when a role is a superuser or bypasses RLS."
    )
    max_rows: int = Field(500, ge=1, description="Rows per page of a query result, by default.")
    max_rows_ceiling: int = Field(10_000, ge=1, description="The most rows a caller may ask for per page.")
    statement_timeout_ms: int = Field(30_000, ge=100, description="Server-side statement_timeout for every query.")
    write_confirm_rows: int = Field(
        100, ge=0, description="execute_write asks for confirmation when its plan touches more rows than this."
    )
    pool_max_size: int = Field(5, ge=1, description="Connections per database.")
    connect_timeout_seconds: float = Field(10.0, gt=0, description="How long a call waits for a connection.")

    @field_validator("databases", mode="before")
    @classmethod
    def _named(cls, value: Any) -> Any:
        if isinstance(value, list):  # --database NAME=DSN, repeated
            named: dict[str, str] = {}
            for item in value:
                name, sep, dsn = str(item).partition("=")
                if not sep or not name.strip() or not dsn.strip():
                    raise ValueError("use NAME=DSN, e.g. --database app=postgresql://user@host/app")
                named[name.strip()] = dsn.strip()
            return named
        return value

    @model_validator(mode="after")
    def _some_database(self) -> PostgresSettings:
        if self.dsn is not None:
            self.databases = {"default": self.dsn, **self.databases}
        if not self.databases:
            raise ValueError(
                "no database given: set PATCHBAY_POSTGRES_DSN=postgresql://user@host/db, "
                "or pass --database NAME=DSN (repeatable)"
            )
        for name, dsn in self.databases.items():
            try:
                conninfo_to_dict(dsn.get_secret_value())
            except Exception:
                raise ValueError(f"the connection string of database {name!r} is not valid") from None
        return self

    def secret_values(self) -> Iterator[str]:
        """Every secret, including each password inside a connection string."""
        yield from super().secret_values()
        for dsn in self.databases.values():
            password = conninfo_to_dict(dsn.get_secret_value()).get("password")
            if password:
                yield str(password)
