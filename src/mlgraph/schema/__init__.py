"""The GraphQL schema: ``build_schema()``."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution import Executor as GraphQLExecutionContext
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext

# Importing every domain module registers its Node types before the build.
from mlgraph.schema import (
    audit,
    deployments,
    filters,
    monitoring,
    pipelines,
    projects,
    registry,
    webhooks,
)
from mlgraph.schema.errors import CodedErrors, is_unexpected, log
from mlgraph.schema.execution import Executor, install_direct_resolvers
from mlgraph.schema.mutations import Mutation
from mlgraph.schema.query import Query
from mlgraph.schema.relay import NODE_TYPES
from mlgraph.schema.scalars import SCALAR_MAP
from mlgraph.schema.subscriptions import Subscription

__all__ = ["build_schema"]
_DOMAINS = (audit, deployments, filters, monitoring, pipelines, projects, registry, webhooks)


class Schema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only what a client cannot have caused; their errors are data, not incidents."""
        for error in errors:
            if is_unexpected(error):
                request_id = getattr(getattr(execution_context, "context", None), "request_id", "")
                log.error("request %s failed", request_id, exc_info=error.original_error)


def build_schema(
    *,
    max_depth: int = 12,
    max_aliases: int = 100,
    executor: type[GraphQLExecutionContext[Any]] = Executor,
) -> Schema:
    """The schema. ``executor`` is the resolver path's executor (tests compare it with
    strawberry's stock one)."""
    extensions: list[type[SchemaExtension] | Any] = [
        CodedErrors,
        lambda: QueryDepthLimiter(max_depth=max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=max_aliases),
    ]
    schema = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(NODE_TYPES.values()),
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=executor,
    )
    install_direct_resolvers(schema._schema)
    return schema
