"""The ASGI application: ``create_app(settings) -> Starlette``.

The lifespan owns the process-wide clients (engine, session factory, object store, live
runtime); each GraphQL request gets a fresh ``Context`` with its own loaders. This package (and
``auth/``) is the only place that touches Starlette: ``websockets`` holds the WebSocket message
limits, ``compiled`` the compiled read path's edge, ``pages`` GraphiQL, the dashboard at ``/``
and their assets, all served offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any, TypedDict

import httpx
from cross_web import HTTPException
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
)
from strawberry.types.execution import ExecutionResult
from strawberry.types.unset import UNSET

from mlgraph.app import http, pages
from mlgraph.app.compiled import HEADER as PLAN_HEADER
from mlgraph.app.compiled import PlanHeader
from mlgraph.app.persisted import PersistedQueries, TrustedDocuments, load_manifest
from mlgraph.app.ratelimit import CONTEXT_KEY, RateLimitHeaders, running_limiter
from mlgraph.app.sse import LineFeedSSETransport
from mlgraph.app.telemetry import Telemetry
from mlgraph.app.tracecontext import traceparent
from mlgraph.app.websockets import LimitedWebSocketAdapter, TransportWSHandler
from mlgraph.auth.backends import (
    Authenticator,
    BackendUnavailable,
    PrincipalUser,
    error_body,
)
from mlgraph.auth.local_issuer import LOCAL_ISSUER, local_verifier
from mlgraph.auth.principal import Principal
from mlgraph.auth.tokens import JwksKeySource, TokenVerifier
from mlgraph.compiled.functions import stale_functions
from mlgraph.compiled.reads import CompiledResult, RawData
from mlgraph.context import Context
from mlgraph.errors import ErrorCode, MlgraphError
from mlgraph.live.connection import LiveConnection, Refused, header_credential
from mlgraph.live.runtime import Live, running_live
from mlgraph.loaders import Loaders
from mlgraph.ratelimit import Clock, RateLimiter
from mlgraph.rollouts import running_scheduler
from mlgraph.schema import DOMAIN_NAMES, Limits, build_schema
from mlgraph.schema.errors import DEADLINE_MESSAGE, coded_error
from mlgraph.schema.scalars import check_json
from mlgraph.settings import Settings
from mlgraph.storage.db import create_compiled_engine, create_engine, create_sessions
from mlgraph.storage.objects import ObjectStore, UploadRefused, open_store
from mlgraph.storage.objects.local import LocalObjectStore
from mlgraph.telemetry import metrics, tracing

log = logging.getLogger("mlgraph")
READY_TIMEOUT_S = 3.0
#: What ``Retry-After`` tells a client when the database is down or too slow.
RETRY_AFTER_S = 2


class State(TypedDict):
    engine: AsyncEngine
    #: The compiled read path's (``create_compiled_engine``); ``engine`` when given one.
    compiled_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    objects: ObjectStore
    settings: Settings
    verifiers: dict[str, TokenVerifier]
    live: Live | None
    limiter: RateLimiter
    clock: Clock


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before anything parses them.
    Uploads (``/objects/``) are exempt: their signed URL fixes their exact size."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["path"].startswith("/objects/"):
            return self.app(
                scope, receive, send
            )  # no frame of its own: a WebSocket keeps no frame of this one
        return self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"error": f"request body over {self.limit} bytes"}, 413)
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class RequestId:
    """Take ``X-Request-Id`` (if sane) or make one; expose it on the scope and the response,
    with the caller's ``traceparent`` if it is well formed (else ``""``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] not in ("http", "websocket"):
            return self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        trace = headers.get(b"traceparent", b"").decode("latin-1")
        scope["state"]["traceparent"] = traceparent(trace)
        if scope["type"] == "websocket":  # no response headers: no frame of its own
            return self.app(scope, receive, send)
        return self._with_id(scope, receive, send, request_id)

    async def _with_id(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


async def _keep_open(_code: int, _reason: str) -> None:
    """An SSE response has no close code: it ends after its subscription's final error."""


#: No roles, no visibility: the context of a request that runs no operation.
NOBODY = Principal(id="", display_name="")


def _has_operation(request: Any) -> bool:
    """Whether a GET asks for an operation: by its text, or by a persisted query's hash."""
    return any(request.query_params.get(name) for name in ("query", "extensions"))


def _not_executed(result: object) -> bool:
    """A request error: refused before execution (parse, validation, limits, variables)."""
    return (
        isinstance(result, ExecutionResult)
        and result.data is None
        and bool(result.errors)
        and all(e.path is None for e in result.errors or ())
    )


def _unavailable(result: ExecutionResult) -> bool:
    codes = ((e.extensions or {}).get("code") for e in result.errors or ())
    return ErrorCode.UNAVAILABLE in codes


#: Compact UTF-8 JSON. A response is a tree (strawberry builds it), so the encoder does not
#: track the containers it is in to detect cycles (measured: 10-18% of encoding a dashboard).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _dumps(data: object) -> str:
    return _ENCODER.encode(data)


def _no_constant(name: str) -> object:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


class GraphQLApp(GraphQL[Context, None]):
    """The GraphQL endpoint. Requests without a principal are refused (UNAUTHENTICATED), but
    for the GraphiQL page itself (a GET without a query). WebSockets authenticate in
    ``connection_init`` (see ``mlgraph.live``); ``Accept: text/event-stream`` runs a
    subscription over server-sent events (strawberry's graphql-sse transport)."""

    websocket_adapter_class = LimitedWebSocketAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    max_message_bytes = 64 * 1024
    stream_transport_classes_by_protocol = {
        **GraphQL.stream_transport_classes_by_protocol,
        GRAPHQL_SSE_PROTOCOL: LineFeedSSETransport,
    }

    def should_render_graphql_ide(self, request: Any) -> bool:
        """The page, for a browser's GET without an operation (an APQ GET has only a hash)."""
        return super().should_render_graphql_ide(request) and not _has_operation(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from this server's own assets (``pages``), not strawberry's CDN page."""
        return pages.graphiql(request.state.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] == "http" and not isinstance(user, PrincipalUser):
            request = Request(scope)
            if request.method != "GET" or _has_operation(request):
                body = error_body(
                    "credentials required: a bearer token or an API key",
                    scope.get("state", {}).get("request_id"),
                )
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                message.setdefault("headers", []).append((b"allow", b"POST"))
            await send(message)

        try:
            await super().__call__(scope, receive, send_with_allow)
        finally:
            live = scope.get("state", {}).get("live_connection")
            if isinstance(live, LiveConnection):
                await live.aclose()

    #: Deepest nesting of a JSON body or message (``Settings.max_json_depth``).
    max_json_depth = 64

    def decode_json(self, data: str | bytes) -> object:
        """Strict JSON: ``NaN`` and ``Infinity`` (which Python's parser accepts), nesting over
        ``max_json_depth`` and strings with lone surrogates are refused."""
        try:
            value = json.loads(data, parse_constant=_no_constant)
        except RecursionError:  # deeper than the parser goes, so over any limit
            problem: str | None = f"JSON nested deeper than {self.max_json_depth} levels"
        else:
            problem = check_json(value, self.max_json_depth, text=data)
        if problem:
            raise json.JSONDecodeError(problem, "", 0)
        return value

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """strawberry's ``run``; a body it cannot read is refused with a coded error body."""
        try:
            return await super().run(request, context, root_value)
        except HTTPException as refused:
            if refused.status_code != 400 or not isinstance(request, Request):
                raise
            cause = refused.__cause__
            why = f": {cause.msg}" if isinstance(cause, json.JSONDecodeError) else ""
            body = error_body(refused.reason + why, request.state.request_id, "BAD_USER_INPUT")
            return JSONResponse(body, status_code=400)

    #: Automatic persisted queries and the trusted manifest (``create_app`` sets it).
    persisted: PersistedQueries

    def encode_json(self, data: object) -> str:
        """Compact UTF-8 JSON; a compiled ``data`` (PostgreSQL's JSON text) is passed through."""
        if isinstance(data, dict):
            raw = data.get("data")
            if isinstance(raw, RawData):
                rest = {k: v for k, v in data.items() if k != "data"}
                tail = "," + _dumps(rest)[1:] if rest else "}"
                return '{"data":' + raw.text + tail
        return _dumps(data)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Any,
    ) -> Any:
        """strawberry's execution (both read paths: ``compiled.reads``) within the deadline,
        answered in the media type ``Accept`` asks for (``http``). The response says which
        path answered; an outage answers 503 with ``Retry-After`` when it left nothing to
        return, and carries ``Retry-After`` anyway."""
        media = http.negotiate(request.headers.get("accept"))
        if media is None:
            raise HTTPException(406, f"Acceptable: {http.GRAPHQL_RESPONSE}, {http.JSON}")
        sub_response.media_type = media
        try:
            async with asyncio.timeout(context.settings.execution_deadline_s):
                result = await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
        except TimeoutError:
            context.loaders.cancel()
            log.warning("request %s passed its deadline", context.request_id)
            error = coded_error(ErrorCode.UNAVAILABLE, DEADLINE_MESSAGE, context.request_id)
            result = ExecutionResult(data=None, errors=[error])
        sub_response.headers[PLAN_HEADER] = context.plan
        results = result if isinstance(result, list) else [result]
        down = [r for r in results if isinstance(r, ExecutionResult) and _unavailable(r)]
        if down:
            sub_response.headers["retry-after"] = str(RETRY_AFTER_S)
            if all(r.data is None for r in down) and len(down) == len(results):
                sub_response.status_code = 503
        elif media == http.GRAPHQL_RESPONSE and all(_not_executed(r) for r in results):
            sub_response.status_code = 400
        return result

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, with persisted queries (``persisted``) resolved first, and 405
        (``Allow: POST``) for a mutation over GET, not 400."""
        try:
            request_data = self.persisted.resolve(request_data)
        except MlgraphError as refused:
            extra = {"field": refused.field} if refused.field else None
            error = coded_error(refused.code, refused.message, context.request_id, extra)
            return ExecutionResult(data=None, errors=[error])
        try:
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        except HTTPException as refused:
            if isinstance(refused.__cause__, InvalidOperationTypeError):
                raise HTTPException(405, refused.reason) from refused
            raise

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = sub_response.media_type or http.JSON
        return response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if isinstance(result, CompiledResult) and not result.errors:  # errors: see ReadAudit
            response: dict[str, Any] = {"data": result.raw}
            if result.extensions:
                response["extensions"] = result.extensions
            return response  # type: ignore[return-value]
        return await super().process_result(request, result)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.state
        user = request.scope.get("user")
        # Operations without a principal never get here (see __call__); the GraphiQL page does.
        principal = user.principal if isinstance(user, PrincipalUser) else NOBODY
        context = Context.create(
            principal=principal,
            request_id=state.request_id,
            traceparent=state.traceparent,
            settings=state.settings,
            sessions=state.sessions,
            objects=state.objects,
            idempotency_key=request.headers.get("idempotency-key"),
            limiter=state.limiter,
            client_address=request.client.host if request.client else "",
            clock=state.clock,
        )
        setattr(state, CONTEXT_KEY, context)  # for the rate-limit headers (app.ratelimit)
        sse = "text/event-stream" in request.headers.get("accept", "")
        engine: AsyncEngine = state.compiled_engine
        if isinstance(request, Request) and not sse and state.settings.compiled_reads:
            if engine.dialect.name == "postgresql":
                context.compiled_engine = engine
        if state.live is not None and (isinstance(request, WebSocket) or sse):
            context.live = state.live_connection = LiveConnection(
                state.live.hub,
                state.settings,
                state.sessions,
                state.verifiers,
                request.close if isinstance(request, WebSocket) else _keep_open,
                header_credential=header_credential(request.headers),
                principal=user.principal if isinstance(user, PrincipalUser) else None,
            )
            if sse:  # authenticated by the middleware; this starts the re-checks
                with contextlib.suppress(Refused, AuthenticationError):
                    await context.live.authenticate(None)
        return context

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        """Authenticate ``connection_init``: its payload's credential, else the headers'."""
        if context.live is None:
            raise ConnectionRejectionError({"message": "live updates are disabled"})
        try:
            principal = await context.live.authenticate(context.connection_params)
        except Refused as refused:
            raise ConnectionRejectionError({"message": refused.reason}) from None
        except AuthenticationError as down:
            raise ConnectionRejectionError({"message": str(down)}) from None
        context.principal = principal
        context.loaders = Loaders(context.sessions, principal.visible_projects())
        return None


async def upload(request: Request) -> Response:
    """PUT target of local upload URLs (the embedded default's stand-in for S3 presigned URLs)."""
    store = request.state.objects
    if not isinstance(store, LocalObjectStore):
        return JSONResponse({"error": "uploads go to the object store directly"}, 404)
    try:
        info = await store.receive(
            request.path_params["key"], dict(request.query_params), request.stream()
        )
    except UploadRefused as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    return JSONResponse({"key": info.key, "size": info.size}, status_code=201)


async def download(request: Request) -> Response:
    """GET target of local download URLs (``Artifact.downloadUrl`` on the embedded default)."""
    store = request.state.objects
    if not isinstance(store, LocalObjectStore):
        return JSONResponse({"error": "downloads come from the object store directly"}, 404)
    try:
        path, content_type = await asyncio.to_thread(
            store.download, request.path_params["key"], dict(request.query_params)
        )
    except UploadRefused as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    return FileResponse(path, media_type=content_type or "application/octet-stream")


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers and the object store is reachable, each within 3 s, and
    (compiled reads on PostgreSQL) the compiled path's SQL functions are installed and current."""
    checks: dict[str, str] = {}
    engine: AsyncEngine = request.state.engine

    async def database() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def compiled_functions() -> None:
        async with engine.connect() as conn:
            stale = await stale_functions(conn)
        if stale:
            raise LookupError(
                f"missing or outdated SQL functions {stale}: run `mlgraph db upgrade`"
            )

    probes = [("database", database), ("objectStore", request.state.objects.check)]
    if request.state.settings.compiled_reads and engine.dialect.name == "postgresql":
        probes.append(("compiledReads", compiled_functions))
    for name, probe in probes:
        try:
            await asyncio.wait_for(probe(), READY_TIMEOUT_S)
            checks[name] = "ok"
        except Exception as exc:
            log.warning("readiness check %s failed: %r", name, exc)
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def _verifiers(settings: Settings, http: httpx.AsyncClient) -> dict[str, TokenVerifier]:
    verifiers: dict[str, TokenVerifier] = {}
    if settings.local_issuer:
        verifiers[LOCAL_ISSUER] = local_verifier(settings)
    if settings.oidc_issuer:
        keys = JwksKeySource(
            settings.oidc_issuer,
            http,
            cache_s=settings.oidc_jwks_cache_s,
            refetch_s=settings.oidc_jwks_refetch_s,
        )
        verifiers["oidc"] = TokenVerifier(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            algorithms=settings.oidc_algorithms,
            keys=keys,
            leeway_s=settings.oidc_leeway_s,
            roles_claim=settings.oidc_roles_claim,
        )
    return verifiers


def _auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    request_id = conn.scope.get("state", {}).get("request_id")
    if isinstance(exc, BackendUnavailable):
        return JSONResponse(error_body(str(exc), request_id, "INTERNAL"), status_code=503)
    return JSONResponse(error_body(f"credentials refused: {exc}", request_id), status_code=401)


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    clock: Clock = time.time,
) -> Starlette:
    """The app. Pass ``engine`` to share one the caller owns (tests count its statements),
    ``clock`` to run the rate limits and rollout steps on another time than the wall clock's
    (tests)."""
    settings = settings or Settings()
    domains = DOMAIN_NAMES if settings.subgraph is None else (settings.subgraph,)
    if settings.telemetry:
        tracing.install(f"mlgraph-{settings.subgraph}" if settings.subgraph else "mlgraph")
    manifest = load_manifest(settings.trusted_documents) if settings.trusted_documents else None
    trusted = (
        []
        if manifest is None
        else [lambda: TrustedDocuments(manifest, settings.trusted_documents_admin_bypass)]
    )
    schema = build_schema(
        domains,
        limits=Limits.of(settings),
        extensions=trusted,
        telemetry=settings.telemetry,
    )
    graphql = GraphQLApp(
        schema,
        graphql_ide="graphiql" if settings.graphiql else None,
        max_subscriptions_per_connection=settings.live_max_subscriptions,
        subscription_protocols=(
            GRAPHQL_TRANSPORT_WS_PROTOCOL,
            GRAPHQL_WS_PROTOCOL,
            GRAPHQL_SSE_PROTOCOL,
        ),
        connection_init_wait_timeout=timedelta(seconds=settings.live_init_timeout_s),
    )
    graphql.max_message_bytes = settings.live_max_message_bytes
    graphql.max_json_depth = settings.max_json_depth
    graphql.persisted = PersistedQueries(manifest)

    @asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[State]:
        db = engine or create_engine(settings)
        if settings.telemetry:
            tracing.trace_engine(db)
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        gc.set_threshold(*settings.gc_threshold)
        sessions = create_sessions(db)
        async with httpx.AsyncClient(timeout=5) as http, AsyncExitStack() as stack:
            if engine is None:
                stack.push_async_callback(db.dispose)  # runs last, after live stopped
            compiled = db
            if engine is None and settings.compiled_reads and settings.is_postgresql:
                compiled = create_compiled_engine(settings)
                stack.push_async_callback(compiled.dispose)
                if settings.telemetry:
                    tracing.trace_engine(compiled)
            stack.callback(metrics.worker_exited)
            objects = await stack.enter_async_context(open_store(settings))
            limiter = await stack.enter_async_context(running_limiter(settings, clock))
            live = None
            if settings.live_enabled:
                live = await stack.enter_async_context(running_live(settings, sessions))
            app_.state.live = live  # for tests and benchmarks that drive the dispatcher
            rollouts = await stack.enter_async_context(running_scheduler(settings, sessions, clock))
            app_.state.rollouts = rollouts  # for tests that drive the scheduler
            yield {
                "engine": db,
                "compiled_engine": compiled,
                "sessions": sessions,
                "objects": objects,
                "settings": settings,
                "verifiers": _verifiers(settings, http),
                "live": live,
                "limiter": limiter,
                "clock": clock,
            }

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/objects/{key:path}", upload, methods=["PUT"]),
            Route("/objects/{key:path}", download, methods=["GET", "HEAD"]),
            *pages.routes(with_dashboard=settings.subgraph is None),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        AuthenticationMiddleware, backend=Authenticator(settings), on_error=_auth_error
    )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Telemetry, settings=settings)
    app.add_middleware(RequestId)
    app.add_middleware(PlanHeader)
    return app
