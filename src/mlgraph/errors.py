"""Errors, and the codes clients see in ``extensions.code``.

    MlgraphError                 (code, safe message: what a client may read)
    ├── BadUserInput             BAD_USER_INPUT: malformed id, bad cursor, page over the cap
    ├── NotFound                 NOT_FOUND
    ├── Unauthenticated          UNAUTHENTICATED
    ├── Forbidden                FORBIDDEN
    ├── RateLimited              RATE_LIMITED
    └── Unavailable              INTERNAL: a backend (database, object store) is unreachable

Anything else raised while executing is logged with its traceback and reaches the client as
``INTERNAL`` with a generic message and the request id, never with its text.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


class MlgraphError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadUserInput(MlgraphError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(MlgraphError):
    code = ErrorCode.NOT_FOUND


class Unauthenticated(MlgraphError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(MlgraphError):
    code = ErrorCode.FORBIDDEN


class RateLimited(MlgraphError):
    code = ErrorCode.RATE_LIMITED


class Unavailable(MlgraphError):
    code = ErrorCode.INTERNAL
