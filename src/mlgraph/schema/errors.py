"""Every GraphQL error leaves with ``extensions.code`` and ``extensions.requestId``.

* ``MlgraphError`` raised by a resolver: its code and its (safe) message.
* Errors before execution (parse, validation, variable coercion): ``BAD_USER_INPUT`` with
  graphql-core's message, which names the offending input and nothing internal.
* A value the database cannot take (SQLSTATE class 22, e.g. a NUL character in a PostgreSQL
  string): ``BAD_USER_INPUT``; the client sent it.
* A database or network failure: ``INTERNAL``, "a backend service is unavailable".
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

_DATA_ERROR = "A value in the request cannot be stored or compared (e.g. a NUL character)."
_UNAVAILABLE = (OperationalError, InterfaceError, DBAPIError, PoolTimeout, OSError, TimeoutError)


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
        return original.code, original.message, extra
    if original is None or isinstance(original, GraphQLError) or error.path is None:
        return ErrorCode.BAD_USER_INPUT, error.message, {}
    if is_bad_value(original):
        return ErrorCode.BAD_USER_INPUT, _DATA_ERROR, {}
    if isinstance(original, _UNAVAILABLE):
        return ErrorCode.INTERNAL, "A backend service is unavailable; try again shortly.", {}
    return ErrorCode.INTERNAL, "Internal error; quote the request id when reporting it.", {}


#: graphql-core's ``did_you_mean`` text: " Did you mean 'a', 'b', or 'c'?"
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def without_suggestion(message: str) -> str:
    return _SUGGESTION.sub("", message)


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
        return GraphQLError(
            message=message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": code.value, "requestId": request_id, **extra},
        )
