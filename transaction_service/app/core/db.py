"""Engine and session factory, built once in the lifespan."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fastapi_plumbing.database import sqlite_engine
from fastapi_plumbing.pool import PoolSettings, postgres_engine


def build_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # A capture commits twice (stored, then decided): synchronous=NORMAL is what keeps that cheap.
        return sqlite_engine(url, foreign_keys=True)
    return postgres_engine(url, PoolSettings.from_environment())


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

