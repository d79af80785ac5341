"""Column helpers shared by the domain models."""

from __future__ import annotations

import enum
import uuid

from sqlalchemy import CheckConstraint, Enum, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column


def enum_column(enum_cls: type[enum.Enum], **kwargs: object) -> Enum:
    """Enums are stored as VARCHAR names (no native types), so migrations stay simple."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        **kwargs,
    )


def project_fk() -> Mapped[uuid.UUID]:
    """Every row carries its project: the one key the authorization policy filters on."""
    return mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)


def finite(*columns: str) -> tuple[CheckConstraint, ...]:
    """``ck_<table>_<column>_finite``: NaN and ±Infinity have no JSON form, so no float column
    holds them (migration ``0005``; the expression is false for them on SQLite and PostgreSQL)."""
    return tuple(
        CheckConstraint(
            f"{c} BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308", name=f"{c}_finite"
        )
        for c in columns
    )
