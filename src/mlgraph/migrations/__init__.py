"""Alembic migrations, shipped inside the package so ``mlgraph db upgrade`` works anywhere."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(database_url: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    if database_url:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str = "", revision: str = "head") -> None:
    """Bring the database at ``database_url`` (default: settings) up to ``revision``."""
    command.upgrade(alembic_config(database_url), revision)
