"""Fixtures shared by the suite: stores on SQLite and PostgreSQL, settings, servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctsync.store import Store, open_store
from tests.certs import HttpsServer, LocalCA
from tests.helpers import postgres_available, postgres_database

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (CREATE DATABASE ... TEMPLATE)."""
    problem = postgres_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required under CI=true: {problem}")
        pytest.skip(f"PostgreSQL not available: {problem}")
    with postgres_database() as url:
        store = open_store(url)
        store.migrate()
        store.close()
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    with postgres_database(pg_template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, migrated store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ctsync.db"
        store = open_store(url)
        store.migrate()
        store.close()
        return url
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ctsync.db"


@pytest.fixture
def https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsServer]:
    """An HTTPS server on loopback whose certificate httpx trusts (through SSL_CERT_FILE)."""
    ca = LocalCA(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
    with HttpsServer(ca) as server:
        yield server
