"""What ``schema.execution.Executor`` relies on in graphql-core's ``Executor`` (through
strawberry's ``StrawberryGraphQLCoreExecutionContext``), checked when it is imported.

The executor overrides seven methods and calls, or reads, more of the base class's internals.
graphql-core and strawberry-graphql are pinned to exact versions (``pyproject.toml``); a bump
that renames or reorders any of these stops the import with the member named, instead of a
resolver path that answers differently or fails at run time.
"""

from __future__ import annotations

import inspect
from typing import Any

_COMPLETE = (
    "self",
    "return_type",
    "field_details_list",
    "info",
    "path",
    "result",
    "position_context",
)
#: Methods of the base class the executor overrides or calls: their parameter names, in order.
METHODS: dict[str, tuple[str, ...]] = {
    # overridden
    "__init__": ("self", "args", "kwargs"),
    "build": (  # a classmethod: its parameters after ``cls``
        "schema",
        "document",
        "root_value",
        "context_value",
        "raw_variable_values",
        "operation_name",
        "field_resolver",
        "type_resolver",
        "subscribe_field_resolver",
        "max_coercion_errors",
        "enable_early_execution",
        "middleware",
        "is_awaitable",
        "is_async_iterable",
        "hide_suggestions",
        "abort_signal",
        "hooks",
        "custom_args",
    ),
    "build_per_event_executor": ("self", "payload"),
    "execute_operation": ("self", "serially"),
    "execute_fields": (
        "self",
        "parent_type",
        "source_value",
        "path",
        "grouped_field_set",
        "position_context",
    ),
    "execute_field": (
        "self",
        "parent_type",
        "source",
        "field_details_list",
        "path",
        "position_context",
    ),
    "complete_awaitable_value": _COMPLETE,
    "build_resolve_info": ("self", "field_def", "field_nodes", "parent_type", "path"),
    # called
    "collect_subfields": ("self", "return_type", "field_details_list"),
    "complete_value": _COMPLETE,
    "handle_field_error": ("self", "raw_error", "return_type", "field_details_list", "path"),
    "settle_in_background": ("self", "awaitables"),
    "with_abort_signal": ("self", "awaitable"),
}
#: Instance attributes the executor reads (declared on graphql-core's ``Executor``).
ATTRIBUTES = (
    "context_value",
    "root_value",
    "background_futures",
    "pending_incremental_futures",
    "variable_values",
    "hide_suggestions",
    "middleware_manager",
    "operation",
    "is_awaitable",
)


class ExecutorContractBroken(ImportError):
    """The installed graphql-core/strawberry no longer have what the executor overrides."""


def check_executor_base(base: type[Any]) -> None:
    """Raise ``ExecutorContractBroken`` naming every member of ``base`` that differs."""
    broken: list[str] = []
    for name, expected in METHODS.items():
        method = getattr(base, name, None)
        if method is None:
            broken.append(f"{name}: missing")
            continue
        found = tuple(inspect.signature(method).parameters)
        if found != expected:
            broken.append(f"{name}{found} (expected {expected})")
    declared: set[str] = set()
    for cls in base.__mro__:
        declared.update(getattr(cls, "__annotations__", {}))
    broken += [f"{name}: not an attribute" for name in ATTRIBUTES if name not in declared]
    if broken:
        raise ExecutorContractBroken(
            f"{base.__module__}.{base.__qualname__} changed; mlgraph.schema.execution.Executor "
            "overrides it (re-check it before a graphql-core or strawberry-graphql bump): "
            + "; ".join(broken)
        )
