"""Alembic environment: migrates the database named by the service settings."""

from logging.config import fileConfig

from alembic import context
from app.core.config import settings
from app.core.db import build_engine
from app.models import Base

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=settings.SQLALCHEMY_DATABASE_URL, target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    if settings.SQLALCHEMY_DATABASE_URL.startswith("sqlite"):
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.SQLALCHEMY_DATABASE_URL)
    with engine.connect() as connection:
        # Batch mode lets later migrations alter columns on SQLite too.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
