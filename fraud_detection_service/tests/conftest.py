from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from app.db.engine import make_engine
from app.db.migrations import upgrade_to_head
from tests.databases import Databases


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop_all()


@pytest.fixture
def profile_engine(databases) -> Iterator[Engine]:
    """An engine on a freshly migrated, empty fraud database."""
    url = databases.create("store")
    upgrade_to_head(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
