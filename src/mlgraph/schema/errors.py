"""Every GraphQL error leaves with ``extensions.code`` and ``extensions.requestId``.

* ``MlgraphError`` raised by a resolver: its code and its (safe) message.
* Errors before execution (parse, validation, variable coercion): ``BAD_USER_INPUT`` with
  graphql-core's message, which names the offending input and nothing internal.
* A value the database cannot take (SQLSTATE class 22, e.g. a NUL character in a PostgreSQL
  string): ``BAD_USER_INPUT``; the client sent it.
* A database or network failure, or the execution deadline passing: ``UNAVAILABLE`` (HTTP 503
  with ``Retry-After`` when nothing else answered), so a client can tell an outage from a bug.
* Anything else: ``INTERNAL``, a generic message; the traceback goes to the log only.

With introspection off, graphql-core's suggestions ("Did you mean 'name'?") are cut from the
messages too: they would spell out the schema a field at a time.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import MaskErrors

from mlgraph.errors import ErrorCode, MlgraphError
from mlgraph.storage.integrity import is_bad_value

log = logging.getLogger("mlgraph.errors")

UNAVAILABLE_MESSAGE = "The database is unavailable; try again shortly."
DEADLINE_MESSAGE = "The operation did not finish within its deadline; try again shortly."
_DATA_ERROR = "A value in the request cannot be stored or compared (e.g. a NUL character)."
#: What a lost or hung database connection raises.
UNAVAILABLE_ERRORS = (
    OperationalError,
    InterfaceError,
    DBAPIError,
    PoolTimeout,
    OSError,
    TimeoutError,
)


def is_unexpected(error: GraphQLError) -> bool:
    """An error worth a traceback in the log: raised while executing, not one of ours."""
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, MlgraphError | GraphQLError)
        and not is_bad_value(original)
    )


def classify(error: GraphQLError) -> tuple[ErrorCode, str, dict[str, Any]]:
    original = error.original_error
    if isinstance(original, MlgraphError):
        extra = {"field": original.field} if original.field else {}
        return original.code, original.message, {**extra, **original.details}
    if original is not None and is_bad_value(original):
        return ErrorCode.BAD_USER_INPUT, _DATA_ERROR, {}
    # Before the path test: a subscription stream's failure has no path, and an outage there
    # (the pool exhausted by a burst of subscribes) is no fault of the input.
    if isinstance(original, UNAVAILABLE_ERRORS):
        return ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE, {}
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        return ErrorCode.BAD_USER_INPUT, error.message, {}
    return ErrorCode.INTERNAL, "Internal error; quote the request id when reporting it.", {}


#: graphql-core's ``did_you_mean`` text: " Did you mean 'a', 'b', or 'c'?"
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def without_suggestion(message: str) -> str:
    return _SUGGESTION.sub("", message)


def coded_error(
    code: ErrorCode,
    message: str,
    request_id: str | None,
    extra: dict[str, Any] | None = None,
    like: GraphQLError | None = None,
) -> GraphQLError:
    """The error a client reads: ``message``, ``extensions.code`` and ``requestId`` (and the
    location and path of ``like``, the error it stands for)."""
    return GraphQLError(
        message=message,
        nodes=like.nodes if like else None,
        source=like.source if like else None,
        positions=like.positions if like else None,
        path=like.path if like else None,
        extensions={"code": code.value, "requestId": request_id, **(extra or {})},
    )


class CodedErrors(MaskErrors):
    """MaskErrors that keeps what a client may read and adds a code to every error."""

    def __init__(self, *, hide_suggestions: bool = False) -> None:
        super().__init__(should_mask_error=lambda _: True)
        self.hide_suggestions = hide_suggestions

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        code, message, extra = classify(error)
        if self.hide_suggestions:
            message = without_suggestion(message)
        request_id = getattr(self.execution_context.context, "request_id", None)
        return coded_error(code, message, request_id, extra, like=error)
