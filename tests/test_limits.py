"""Request limits (issue 17): each limit passes at its value, and one over it is refused with its
code before anything runs: no resolver call, no SQL statement. On PostgreSQL the documents at
the limit take the compiled path, on SQLite the resolver path (``x-mlgraph-plan``).

Resolver calls are counted by a wrapper this module puts around every root field's resolver
(every execution starts at a root field) of an app of its own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from graphql import GraphQLSyntaxError, default_field_resolver, get_introspection_query, parse
from sqlalchemy import func, select
from starlette.routing import Route

from mlgraph.app import GraphQLApp, create_app
from mlgraph.ids import encode_global_id
from mlgraph.settings import Settings
from mlgraph.storage import models as m
from tests.conftest import ADMIN, Backend, serve, stop


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    plan: str
    sql: int
    calls: int

    @property
    def codes(self) -> list[str]:
        return [e["extensions"]["code"] for e in self.body.get("errors", [])]


@dataclass
class Limited:
    """An app whose root resolvers count their calls, and a client for it."""

    backend: Backend
    client: httpx.AsyncClient
    calls: list[str] = field(default_factory=list)

    async def ask(self, query: str, variables: dict[str, Any] | None = None) -> Answer:
        return await self.post(json.dumps({"query": query, "variables": variables}))

    async def post(self, content: str) -> Answer:
        self.calls.clear()
        self.backend.sql.start()
        response = await self.client.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        sql = self.backend.sql.stop()
        plan = response.headers["x-mlgraph-plan"]
        return Answer(response.status_code, response.json(), plan, sql, len(self.calls))


def _count_root_calls(app: Any, calls: list[str]) -> None:
    endpoint = next(r.endpoint for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    assert isinstance(endpoint, GraphQLApp)
    schema = endpoint.schema._schema  # type: ignore[attr-defined]
    for root in (schema.query_type, schema.mutation_type):
        for name, root_field in root.fields.items():
            original = root_field.resolve or default_field_resolver

            def counted(*args: Any, _name: str = name, _run: Any = original, **kw: Any) -> Any:
                calls.append(_name)
                return _run(*args, **kw)

            root_field.resolve = counted


@asynccontextmanager
async def limited(backend: Backend, **settings: Any) -> AsyncIterator[Limited]:
    app = create_app(backend.settings.model_copy(update=settings), engine=backend.engine)
    server, task, url = await serve(app)
    headers = backend.headers(ADMIN, admin=True)  # a platform admin: no membership lookup
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        limited = Limited(backend, client)
        _count_root_calls(app, limited.calls)
        yield limited
    await stop(server, task)


@pytest.fixture(scope="module")
async def production(backend: Backend) -> AsyncIterator[Limited]:
    """Production settings (a database URL): introspection off."""
    async with limited(backend) as app:
        yield app


@pytest.fixture(scope="module")
async def embedded(backend: Backend) -> AsyncIterator[Limited]:
    """Introspection on, as in the embedded default."""
    async with limited(backend, introspection=True) as app:
        yield app


def _tokens(document: str) -> int:
    """How many tokens graphql-core's parser counts in ``document``."""
    low, high = 1, len(document) + 1
    while low < high:
        middle = (low + high) // 2
        try:
            parse(document, max_tokens=middle)
            high = middle
        except GraphQLSyntaxError:
            low = middle + 1
    return low


def depth(n: int) -> str:
    """A field at depth ``n`` (a root field is at 0), its last levels in a fragment."""
    chain = ["projects(first: 1)", "nodes"]
    while len(chain) < n:
        chain += ["models(first: 1)", "nodes", "project"]
    head, tail = chain[:2], chain[2:n]
    inner = "__typename"
    for name in reversed(tail):
        inner = f"{name} {{ {inner} }}"
    return f"{{ {head[0]} {{ {head[1]} {{ ...Deep }} }} }} fragment Deep on Project {{ {inner} }}"


def aliases(n: int) -> str:
    names = " ".join(f"a{i}: slug" for i in range(n - 1))
    fragment = f"fragment A on Project {{ {names} }}"
    return f"{{ first: projects(first: 1) {{ nodes {{ ...A }} }} }} {fragment}"


def root_fields(n: int) -> str:
    typenames = " __typename" * (n - 1)
    return f"{{ projects(first: 1) {{ totalCount }} ...R }} fragment R on Query {{{typenames} }}"


def directives(n: int) -> str:
    spreads = " ...D" * n
    fragment = "fragment D on Project { slug @include(if: true) }"
    return f"{{ projects(first: 1) {{ nodes {{{spreads} }} }} }} {fragment}"


def tokens(n: int) -> str:
    def document(tags: int) -> str:
        listed = " ".join(['"t"'] * tags)
        return f"{{ models(first: 1, filter: {{tags: [{listed}]}}) {{ totalCount }} }}"

    found = document(n - _tokens(document(0)))
    assert _tokens(found) == n
    return found


def characters(n: int) -> str:
    base = "{ projects(first: 1) { nodes { slug } } }"
    return base + " " * (n - len(base))


LIMITS: list[Any] = [
    pytest.param(depth, 10, "QUERY_TOO_DEEP", id="depth"),
    pytest.param(aliases, 15, "TOO_MANY_ALIASES", id="aliases"),
    pytest.param(root_fields, 20, "TOO_MANY_ROOT_FIELDS", id="root-fields"),
    pytest.param(directives, 50, "TOO_MANY_DIRECTIVES", id="directives"),
    pytest.param(tokens, 1_000, "TOO_MANY_TOKENS", id="tokens"),
    pytest.param(characters, 15_000, "DOCUMENT_TOO_LARGE", id="characters"),
]


def _runs(answer: Answer, backend: Backend) -> None:
    """Answered without errors: compiled on PostgreSQL, by resolvers on SQLite."""
    assert answer.status == 200
    assert "errors" not in answer.body, answer.body["errors"]
    if backend.name == "postgresql":
        assert (answer.plan, answer.sql, answer.calls) == ("compiled", 1, 0)
    else:
        assert answer.plan == "resolver"
        assert answer.calls >= 1


def _refused(answer: Answer, code: str) -> None:
    """Refused with ``code`` before anything ran."""
    assert answer.codes, answer.body
    assert set(answer.codes) == {code}, answer.body
    assert answer.body["data"] is None
    assert (answer.sql, answer.calls) == (0, 0)


@pytest.mark.parametrize(("document", "limit", "code"), LIMITS)
async def test_a_document_at_a_limit_runs_and_one_over_is_refused_before_anything_runs(
    production: Limited, document: Callable[[int], str], limit: int, code: str
) -> None:
    _runs(await production.ask(document(limit)), production.backend)
    _refused(await production.ask(document(limit + 1)), code)


#: ``SIZE`` is replaced by the page size; ``$n`` is given it as a variable.
PAGES = [
    "{ projects(first: SIZE) { nodes { slug } } }",
    "{ projects(last: SIZE) { nodes { slug } } }",
    "query($n: Int) { projects(first: $n) { nodes { slug } } }",
    "query($n: Int = SIZE) { projects(first: $n) { nodes { slug } } }",
    "query($n: Int!) { projects(first: 1) { nodes { ...P } } }"
    " fragment P on Project { models(last: $n) { totalCount } }",
    # A fragment that no object takes (no such project): refused all the same.
    f'query($n: Int!) {{ node(id: "{encode_global_id("Project", uuid.UUID(int=7))}") {{'
    " ... on Pipeline { runs(first: $n) { totalCount } } } }",
]


@pytest.mark.parametrize(
    "query", PAGES, ids=["literal", "last", "variable", "default", "fragment-variable", "unreached"]
)
async def test_page_sizes_run_within_1_to_100_and_are_refused_outside(
    production: Limited, query: str
) -> None:
    for size, allowed in ((1, True), (100, True), (0, False), (101, False), (-1, False)):
        variables = {"n": size} if "SIZE" not in query else None
        answer = await production.ask(query.replace("SIZE", str(size)), variables)
        if allowed:
            _runs(answer, production.backend)
        else:
            _refused(answer, "BAD_USER_INPUT")
            assert answer.body["errors"][0]["extensions"]["field"] in ("first", "last")


async def test_a_refused_mutation_writes_nothing(db: Backend, production: Limited) -> None:
    creates = " ".join(
        f'p{i}: createProject(input: {{slug: "p{i}", name: "p"}}) {{ project {{ id }} }}'
        for i in range(16)
    )
    _refused(await production.ask(f"mutation {{ {creates} }}"), "TOO_MANY_ALIASES")
    async with production.backend.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Project)) == 0


INTROSPECTION = [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "Project") { fields { name } } }',
]


@pytest.mark.parametrize("query", INTROSPECTION)
async def test_introspection_is_refused_in_production_settings(
    production: Limited, embedded: Limited, query: str
) -> None:
    _refused(await production.ask(query), "INTROSPECTION_DISABLED")
    answer = await embedded.ask(query)
    assert "errors" not in answer.body
    assert answer.sql == 0


async def test_typename_and_the_federation_service_stay_available(production: Limited) -> None:
    answer = await production.ask("{ __typename _service { sdl } }")
    assert answer.body["data"]["__typename"] == "Query"
    assert "type Project" in answer.body["data"]["_service"]["sdl"]


async def test_the_full_introspection_query_is_within_the_limits(embedded: Limited) -> None:
    answer = await embedded.ask(get_introspection_query(descriptions=True))
    assert "errors" not in answer.body
    assert len(answer.body["data"]["__schema"]["types"]) > 100


async def test_introspection_nested_too_deep_is_refused(embedded: Limited) -> None:
    deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    _refused(await embedded.ask(deep), "QUERY_TOO_DEEP")


#: Near misses: a field, an argument, a type, an enum value (literal and variable), an input field.
PROBES: list[tuple[str, dict[str, Any] | None]] = [
    ("{ projects { nodes { nme } } }", None),
    ("{ projects(frist: 1) { totalCount } }", None),
    ("{ projects { nodes { ... on Projet { slug } } } }", None),
    ("{ models(filter: {stage: [PRODUCTON]}) { totalCount } }", None),
    ("query($f: ModelFilter) { models(filter: $f) { totalCount } }", {"f": {"stage": ["STAGIN"]}}),
    ("query($f: ModelFilter) { models(filter: $f) { totalCount } }", {"f": {"nameContain": "a"}}),
]


@pytest.mark.parametrize(("query", "variables"), PROBES)
async def test_no_suggestions_while_introspection_is_off(
    production: Limited, embedded: Limited, query: str, variables: dict[str, Any] | None
) -> None:
    suggested = await embedded.ask(query, variables)
    assert "Did you mean" in suggested.body["errors"][0]["message"]  # a real near miss
    masked = await production.ask(query, variables)
    assert masked.codes == suggested.codes == ["BAD_USER_INPUT"]
    assert "Did you mean" not in json.dumps(masked.body)
    assert (masked.sql, masked.calls) == (0, 0)


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("levels", [63, 5_000])
async def test_json_bodies_nested_over_64_levels_are_bad_input(
    production: Limited, levels: int
) -> None:
    body = '{"query": "{ __typename }", "variables": {"x": %s}}'  # the body is 2 levels
    ok = await production.post(body % _nested(62))
    assert ok.status == 200
    assert ok.body["data"] == {"__typename": "Query"}
    refused = await production.post(body % _nested(levels))
    assert refused.status == 400
    _refused(refused, "BAD_USER_INPUT")


async def test_strings_with_a_lone_surrogate_are_bad_input(production: Limited) -> None:
    query = "query($s: String) { models(filter: {nameContains: $s}) { totalCount } }"
    body = '{"query": "%s", "variables": {"s": "%s"}}'
    paired = await production.post(body % (query, "\\ud83d\\ude00"))
    assert paired.body["data"] == {"models": {"totalCount": 0}}
    for lone in ("\\ud800", "a\\udfffb"):
        refused = await production.post(body % (query, lone))
        assert refused.status == 400
        _refused(refused, "BAD_USER_INPUT")


def _json_literal(levels: int) -> str:
    return "{a: " * levels + "1" + "}" * levels


async def test_json_scalar_values_nested_over_64_levels_are_bad_input(
    db: Backend, production: Limited
) -> None:
    made = await production.ask(
        'mutation { createProject(input: {slug: "deep", name: "deep"}) { project { id } } }'
    )
    project_id = made.body["data"]["createProject"]["project"]["id"]
    create = (
        'mutation { createPipeline(input: {projectId: "%s", name: "%s", nodes: '
        '[{id: "a", kind: "k", config: %s}]}) { pipeline { id } userErrors { code } } }'
    )
    ok = await production.ask(create % (project_id, "at-limit", _json_literal(64)))
    assert ok.body["data"]["createPipeline"]["userErrors"] == [], ok.body
    refused = await production.ask(create % (project_id, "over", _json_literal(65)))
    _refused(refused, "BAD_USER_INPUT")
    async with production.backend.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(m.Pipeline)) == 1


@pytest.mark.parametrize(
    ("settings", "active"),
    [
        ({}, True),  # the embedded default
        ({"database_url": "postgresql+asyncpg://db/mlgraph"}, False),
        ({"oidc_issuer": "https://issuer.example.com"}, False),
        ({"host": "0.0.0.0"}, False),  # noqa: S104 - a setting, nothing binds here
        ({"database_url": "postgresql+asyncpg://db/mlgraph", "introspection": True}, True),
        ({"introspection": False}, False),
    ],
)
def test_introspection_is_on_in_the_embedded_default_only(
    settings: dict[str, Any], active: bool
) -> None:
    assert Settings(_env_file=None, **settings).introspection_active is active  # type: ignore[call-arg]
