"""The direct (unpooled) PostgreSQL URL: Neon's and Vercel Postgres' names, PostgreSQL only."""

from __future__ import annotations

import pydantic
import pytest

from ctsync.config import Settings


@pytest.mark.parametrize("name", ["DATABASE_URL_UNPOOLED", "POSTGRES_URL_NON_POOLING"])
def test_the_direct_url_is_read_under_either_name(name: str) -> None:
    settings = Settings(**{name: "postgres://u@db.example:5432/app"})
    assert settings.database_url_unpooled == "postgres://u@db.example:5432/app"


def test_an_empty_direct_url_counts_as_unset() -> None:
    assert Settings(DATABASE_URL_UNPOOLED="").database_url_unpooled is None


def test_a_direct_url_that_is_not_postgresql_is_refused_naming_the_setting() -> None:
    with pytest.raises(pydantic.ValidationError, match="DATABASE_URL_UNPOOLED"):
        Settings(DATABASE_URL_UNPOOLED="sqlite:///x.db")
