"""The resolver path's executor subclasses graphql-core's: the versions it was written against
are pinned exactly, and a base class that changed under it stops the import, naming what."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from mlgraph.schema import build_schema
from mlgraph.schema.executor_contract import ExecutorContractBroken, check_executor_base

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
PINNED = ("graphql-core", "strawberry-graphql")


def test_graphql_core_and_strawberry_are_pinned_to_the_installed_versions() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    pins = dict(d.split("==") for d in dependencies if d.split("==")[0] in PINNED)
    assert pins == {name: version(name) for name in PINNED}


def test_the_installed_base_class_has_what_the_executor_overrides() -> None:
    check_executor_base(StrawberryGraphQLCoreExecutionContext)


def test_a_changed_signature_stops_the_import_naming_the_method() -> None:
    class Moved(StrawberryGraphQLCoreExecutionContext):
        # Deliberately not the base's signature: the check under test must name the method.
        def execute_field(  # type: ignore[override]
            self, parent_type: Any, source: Any, details: Any, path: Any
        ) -> Any:
            return None

    with pytest.raises(ExecutorContractBroken) as raised:
        check_executor_base(Moved)
    message = str(raised.value)
    assert "execute_field(" in message
    assert "'field_details_list'" in message
    assert "execute_fields" not in message.replace("execute_field(", "")


def test_a_missing_method_or_attribute_is_named() -> None:
    class Bare:
        context_value: Any
        variable_values: Any

    with pytest.raises(ExecutorContractBroken) as raised:
        check_executor_base(Bare)
    message = str(raised.value)
    assert "complete_awaitable_value: missing" in message
    assert "hide_suggestions: not an attribute" in message
    assert "middleware_manager: not an attribute" in message
    assert "context_value" not in message


def test_no_extension_of_the_served_schema_turns_the_short_cuts_off() -> None:
    """The executor takes its short cuts only without resolver middleware; strawberry makes
    middleware of every extension that overrides ``resolve``. None of the app's does, the
    telemetry extension included (it spans operations, not fields)."""
    schema = build_schema(telemetry=True)
    names = []
    for factory in schema.extensions:
        extension = factory if isinstance(factory, type) else type(factory())
        assert issubclass(extension, SchemaExtension)
        names.append(extension.__name__)
        assert extension.resolve is SchemaExtension.resolve, extension
    assert "OperationTelemetry" in names
