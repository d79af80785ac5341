"""Errors, and the codes clients see in ``extensions.code``.

    MlgraphError                 (code, safe message: what a client may read)
    ├── BadUserInput             BAD_USER_INPUT: malformed id, bad cursor, page over the cap
    ├── NotFound                 NOT_FOUND
    ├── Unauthenticated          UNAUTHENTICATED
    ├── Forbidden                FORBIDDEN
    ├── RateLimited              RATE_LIMITED
    ├── Unavailable              UNAVAILABLE: the database is unreachable or the deadline passed
    ├── PersistedQueryNotFound   PERSISTED_QUERY_NOT_FOUND: an APQ hash this server does not know
    ├── NotInList                PERSISTED_QUERY_NOT_IN_LIST: not a trusted document
    ├── Internal                 INTERNAL: a bug we caught and logged (e.g. a broken constraint)
    └── ObjectStoreError         OBJECT_STORE_UNAVAILABLE: endpoint down, timeout, bad answer
        ├── ObjectStoreDenied    OBJECT_STORE_DENIED: the store refused our credentials
        ├── ObjectMissing        OBJECT_NOT_FOUND: the object is not in the store
        ├── ObjectTooLarge       OBJECT_TOO_LARGE: over the size a field will read
        └── ObjectInvalid        OBJECT_INVALID: not what the field expects (e.g. not JSON)

Object-store errors fail only the field that needed the object; the rest of a query returns.

Expected failures of a mutation are not errors but data: resolvers raise ``UserErrors`` (one or
more ``Problem``s with a ``UserErrorCode`` and the input field path), and the mutation returns
them in its payload's ``userErrors`` after the transaction rolled back.

Anything else raised while executing is logged with its traceback and reaches the client as
``INTERNAL`` with a generic message and the request id, never with its text.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class ErrorCode(enum.StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
    OBJECT_TOO_LARGE = "OBJECT_TOO_LARGE"
    OBJECT_INVALID = "OBJECT_INVALID"
    OBJECT_STORE_DENIED = "OBJECT_STORE_DENIED"
    OBJECT_STORE_UNAVAILABLE = "OBJECT_STORE_UNAVAILABLE"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"


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
    code = ErrorCode.UNAVAILABLE


class PersistedQueryNotFound(MlgraphError):
    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND


class NotInList(MlgraphError):
    code = ErrorCode.PERSISTED_QUERY_NOT_IN_LIST


class Internal(MlgraphError):
    """A bug, already logged with the request id; its message is the generic one."""

    code = ErrorCode.INTERNAL


class ObjectStoreError(MlgraphError):
    code = ErrorCode.OBJECT_STORE_UNAVAILABLE


class ObjectStoreDenied(ObjectStoreError):
    code = ErrorCode.OBJECT_STORE_DENIED


class ObjectMissing(ObjectStoreError):
    code = ErrorCode.OBJECT_NOT_FOUND


class ObjectTooLarge(ObjectStoreError):
    code = ErrorCode.OBJECT_TOO_LARGE


class ObjectInvalid(ObjectStoreError):
    code = ErrorCode.OBJECT_INVALID


class UserErrorCode(enum.StrEnum):
    """Stable codes of expected mutation failures (``userErrors[].code``)."""

    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    POLICY_VIOLATION = "POLICY_VIOLATION"
    LOCKED = "LOCKED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    FORBIDDEN = "FORBIDDEN"
    PROJECT_ARCHIVED = "PROJECT_ARCHIVED"
    #: Pipeline edges that would form a cycle.
    CYCLE = "CYCLE"
    #: A delete refused while something still uses the entity (a deployment, an alias).
    IN_USE = "IN_USE"


@dataclass(frozen=True)
class Problem:
    code: UserErrorCode
    message: str
    field: tuple[str, ...] = ()


class UserErrors(Exception):
    """Expected failures of a mutation; its transaction rolls back, its payload lists them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, code: UserErrorCode, message: str, *field: str) -> UserErrors:
        return cls([Problem(code, message, tuple(field))])
