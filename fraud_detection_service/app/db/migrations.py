"""Run the Alembic migrations from code (tests and tools; start.sh uses the alembic CLI)."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command

SERVICE_DIR = Path(__file__).resolve().parents[2]


def upgrade_to_head(database_url: str) -> None:
    config = Config(str(SERVICE_DIR / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
