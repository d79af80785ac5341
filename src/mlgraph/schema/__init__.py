"""The GraphQL schema: ``build_schema(domains)``.

All domains give the combined schema; one domain (or a few) gives that domain's subgraph. The
types are the same Python classes either way: a subgraph keeps the fields its domains own
(``columns.owned_by``), entities of other domains appear as key-only references, and to-one
relations into them answer with a reference instead of a load. Nothing is registered globally:
several schemas can be built and served in one process.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import strawberry
from graphql import GraphQLError
from graphql.execution import Executor as GraphQLExecutionContext
from strawberry.extensions import ParserCache
from strawberry.extensions.base_extension import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField

from mlgraph.errors import BadUserInput, MlgraphError
from mlgraph.ids import decode_global_id
from mlgraph.schema.columns import field_domain
from mlgraph.schema.cost import CostGuard
from mlgraph.schema.errors import CodedErrors, is_unexpected, log
from mlgraph.schema.execution import Executor, install_direct_resolvers, then
from mlgraph.schema.limits import DEFAULT_LIMITS, Limiter, Limits
from mlgraph.schema.mutations import Mutation
from mlgraph.schema.query import Query
from mlgraph.schema.readaudit import ReadAudit
from mlgraph.schema.relay import Info, node_class
from mlgraph.schema.scalars import scalar_map
from mlgraph.schema.subscriptions import Subscription
from mlgraph.schema.telemetry import OperationTelemetry
from mlgraph.storage.graph import DOMAIN_NAMES, ENTITIES, DomainName

if TYPE_CHECKING:
    from mlgraph.compiled.planner import Planner

__all__ = ["DOMAIN_NAMES", "Limits", "Schema", "build_schema", "sdl_files"]

#: Apollo Federation's plumbing, described (strawberry adds these fields without a description).
FEDERATION_DOCS = {
    "_entities": (
        "Apollo Federation: the entities a router asks for by their keys "
        "(`{__typename, id}` representations), in order; null for one the caller may not see."
    ),
    "_service": "Apollo Federation: this service's capabilities, for routers and composition.",
    "_Service.sdl": "This (sub)graph's SDL with its federation directives, for composition.",
}


class Schema(strawberry.federation.Schema):
    """A strawberry federation schema serving the fields of ``domains``."""

    #: The compiled read path's plan cache (``compiled.reads.CompiledReads`` uses it).
    planner: Planner

    def __init__(self, domains: frozenset[DomainName], **options: Any) -> None:
        self.domains = domains
        super().__init__(**options)

    def _get_federation_query_type(self, *args: Any, **kwargs: Any) -> type:
        """strawberry's federation fields, with the descriptions GraphiQL's docs show."""
        query: Any = super()._get_federation_query_type(*args, **kwargs)
        for field in query.__strawberry_definition__.fields:
            if field.graphql_name in FEDERATION_DOCS:
                field.description = FEDERATION_DOCS[field.graphql_name]
            if field.graphql_name == "_service":
                for inner in field.type.__strawberry_definition__.fields:
                    inner.description = FEDERATION_DOCS["_Service.sdl"]
        return cast("type", query)

    def serves(self, type_name: str) -> bool:
        """Whether this schema loads ``type_name``'s rows (else it answers references)."""
        return ENTITIES[type_name].domain in self.domains

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        return [f for f in type_definition.fields if _kept(f, self.domains)]

    def entities_resolver(self, info: Info, representations: list[FederationAny]) -> list[Any]:
        """Federation's ``_entities``: every representation through the per-request loaders,
        so N of one type are one statement; an error is the representation's own."""
        return [self._entity(info, r, i) for i, r in enumerate(representations)]

    def _entity(self, info: Info, representation: Any, index: int) -> Any:
        field = f"representations.{index}"
        type_name = representation.get("__typename") if isinstance(representation, dict) else None
        global_id = representation.get("id") if isinstance(representation, dict) else None
        if not isinstance(type_name, str) or not isinstance(global_id, str):
            return BadUserInput("a representation needs `__typename` and `id`", field=field)
        if type_name not in ENTITIES:
            return BadUserInput(f"{type_name!r} is not an entity of this graph", field=field)
        try:
            decoded, pk = decode_global_id(global_id, field=field)
        except MlgraphError as error:
            return error
        if decoded != type_name:
            return None
        cls = node_class(type_name)
        if not self.serves(type_name):
            return cls.reference(pk)
        return then(
            info.context.loaders.by_key(type_name).load(pk),
            lambda row: None if row is None else cls.from_row(row),
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log only what a client cannot have caused; their errors are data, not incidents."""
        for error in errors:
            if is_unexpected(error):
                request_id = getattr(getattr(execution_context, "context", None), "request_id", "")
                log.error("request %s failed", request_id, exc_info=error.original_error)


class ParseCache(ParserCache):
    """strawberry's parser cache, but a document that does not parse is left to strawberry's
    own parse, which reports it as a coded error (the cache's hook would raise past it)."""

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        with contextlib.suppress(GraphQLError):
            ec.graphql_document = self.cached_parse_document(ec.query, **ec.parse_options)
        yield


#: Validation errors by (query text, validation rules): one document per text (``ParseCache``).
Validated = OrderedDict[tuple[str, tuple[type, ...]], list[GraphQLError]]


class ValidateCache(SchemaExtension):
    """Each document validated once per set of rules. strawberry's ``ValidationCache`` keys on
    the parsed document, and hashing one walks all its nodes on every request (about 1 ms for
    the dashboard); the text the document was parsed from stands for it here."""

    def __init__(self, cache: Validated, size: int) -> None:
        self.cache, self.size = cache, size

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.query is not None and ec.graphql_document is not None:
            key = (ec.query, ec.validation_rules)
            errors = self.cache.get(key)
            if errors is None:
                errors = validate_document(ec.schema._schema, ec.graphql_document, key[1])
                self.cache[key] = errors
                if len(self.cache) > self.size:
                    self.cache.popitem(last=False)
            ec.pre_execution_errors = errors
        yield


def _kept(field: StrawberryField, domains: frozenset[DomainName]) -> bool:
    domain = field_domain(field)
    return domain is None or domain in domains


def _root(cls: type, domains: frozenset[DomainName]) -> type | None:
    """``cls`` if any of its fields belongs to ``domains`` (a type needs one field)."""
    fields = cls.__strawberry_definition__.fields  # type: ignore[attr-defined]
    return cls if any(_kept(f, domains) for f in fields) else None


def build_schema(
    domains: Iterable[DomainName] = DOMAIN_NAMES,
    *,
    limits: Limits = DEFAULT_LIMITS,
    executor: type[GraphQLExecutionContext[Any]] = Executor,
    extensions: Iterable[Callable[[], SchemaExtension]] = (),
    telemetry: bool = True,
) -> Schema:
    """The schema of ``domains``: all of them (the default) is the combined schema, one is
    that domain's subgraph, refusing documents over ``limits``. ``executor`` is the resolver
    path's executor (tests compare it with strawberry's stock one); ``extensions`` are the
    server's own (after validation's cache and the limits, before the compiled path);
    ``telemetry`` adds the operation's span and metrics, the outermost extension, so they see
    every other one's errors."""
    # The compiled path builds on this package (its field map reads the schema's types).
    from mlgraph.compiled.planner import CACHE_SIZE, Planner
    from mlgraph.compiled.reads import CompiledReads

    served = frozenset(domains)
    unknown = served - set(DOMAIN_NAMES)
    if unknown or not served:
        raise ValueError(f"no such domains: {sorted(unknown)}; domains are {DOMAIN_NAMES}")
    validated: Validated = OrderedDict()
    pipeline: list[Callable[[], SchemaExtension]] = [
        *([OperationTelemetry] if telemetry else []),
        lambda: CodedErrors(hide_suggestions=not limits.introspection),
        lambda: ParseCache(maxsize=CACHE_SIZE),
        lambda: ValidateCache(validated, CACHE_SIZE),
        lambda: Limiter(limits),
        *extensions,
        CostGuard,
        ReadAudit,  # around both read paths: it records what they issued
        CompiledReads,  # last: it answers on_execute inside every other extension
    ]
    schema = Schema(
        served,
        query=Query,
        mutation=_root(Mutation, served),
        subscription=_root(Subscription, served),
        types=[node_class(name) for name in ENTITIES],
        extensions=pipeline,
        config=StrawberryConfig(scalar_map=scalar_map(limits.json_depth)),
        execution_context_class=executor,
    )
    install_direct_resolvers(
        schema._schema, foreign=lambda t: t in ENTITIES and not schema.serves(t)
    )
    schema.planner = Planner(schema)
    return schema


def sdl_files(combined: Path, subgraphs: Path, only: str | None = None) -> dict[Path, str]:
    """The checked-in SDLs and their text: the combined schema and each domain's subgraph
    (``only``: just that subgraph)."""
    names = DOMAIN_NAMES if only is None else tuple(d for d in DOMAIN_NAMES if d == only)
    files = {} if only is not None else {combined: build_schema().as_str() + "\n"}
    for name in names:
        files[subgraphs / f"{name}.graphql"] = build_schema((name,)).as_str() + "\n"
    return files
