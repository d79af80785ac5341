"""The pages this server serves itself, offline: GraphiQL at GET ``/graphql``, the dashboard at
``/``, and their assets under ``/static/`` (mlgraph's own files and, gzipped in ``vendor/``,
GraphiQL and React as ``scripts/vendor-assets.sh`` packed them from npm). No page loads
anything from another origin.

Both pages run on the public GraphQL API only. In the embedded default they open signed in as
the demo admin: a dev-only local-issuer token, written into the page and shown there
(``Settings.dev_sign_in_active`` says when; never with production settings).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

import mlgraph
from mlgraph.auth.local_issuer import issue_token
from mlgraph.settings import Settings

STATIC = Path(__file__).parent / "static"
DEMO_ADMIN = "admin@example.com"
#: The tab GraphiQL opens on; the others follow in file-name order.
FIRST_OPERATION = "tour.graphql"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
_VARIABLE = re.compile(r"\$(\w+)\s*:")


@dataclass(frozen=True)
class Operation:
    name: str
    query: str
    variables: list[str]


def operations_dir(settings: Settings) -> Path:
    """Where the checked-in operations are (the source tree's ``graphql/operations``)."""
    return settings.operations_dir or Path(mlgraph.__file__).parents[2] / "graphql" / "operations"


def operations(settings: Settings) -> list[Operation]:
    """``graphql/operations/**.graphql``, the tour first, then the read operations, then the
    subscriptions of ``live/``: GraphiQL's tabs and the dashboard's documents."""
    folder = operations_dir(settings)
    files = sorted(
        folder.rglob("*.graphql"),
        key=lambda p: (p.name != FIRST_OPERATION, p.parent != folder, p.as_posix()),
    )
    found = []
    for path in files:
        text = path.read_text()
        name = path.relative_to(folder).with_suffix("").as_posix()
        found.append(Operation(name, text, list(dict.fromkeys(_VARIABLE.findall(text)))))
    return found


def dev_headers(settings: Settings) -> dict[str, str] | None:
    """The demo admin's header, in the embedded default only."""
    if not settings.dev_sign_in_active:
        return None
    token = issue_token(settings, subject=DEMO_ADMIN, roles=settings.oidc_admin_roles[:1])
    return {"Authorization": f"Bearer {token}"}


def _render(page: str, config: dict[str, object]) -> HTMLResponse:
    """The page with its config as JSON in a ``<script type="application/json">`` (``<`` escaped,
    so no value can close the element)."""
    blob = json.dumps(config).replace("<", "\\u003c")
    html = (STATIC / page).read_text().replace("__CONFIG__", blob)
    return HTMLResponse(html, headers={"cache-control": "no-store"})


def _config(settings: Settings) -> dict[str, object]:
    return {
        "devHeaders": dev_headers(settings),
        "devUser": DEMO_ADMIN,
        "operations": [vars(op) for op in operations(settings)],
        "maxSubscriptions": settings.live_max_subscriptions,
        # Off: GraphiQL asks for no schema (it would be refused) and says why it has no docs.
        "introspection": settings.introspection_active,
    }


def graphiql(settings: Settings) -> HTMLResponse:
    return _render("graphiql.html", _config(settings))


async def dashboard(request: Request) -> Response:
    return _render("dashboard.html", _config(request.state.settings))


async def static(request: Request) -> Response:
    """A file of ``static/`` (no directories, no dot files); vendor files are stored gzipped and
    sent as such to every client that accepts gzip (browsers do), else decompressed."""
    name: str = request.path_params["path"]
    parts = name.split("/")
    if any(not p or p.startswith(".") for p in parts) or Path(name).suffix not in _TYPES:
        return Response("not found", 404)
    path = STATIC.joinpath(*parts)
    packed = path.with_name(path.name + ".gz")
    media_type = _TYPES[path.suffix]
    if path.is_file():
        return Response(path.read_bytes(), media_type=media_type, headers=_caching(parts))
    if not packed.is_file():
        return Response("not found", 404)
    body = packed.read_bytes()
    headers = _caching(parts)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        headers["vary"] = "accept-encoding"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=media_type, headers=headers)


def _caching(parts: list[str]) -> dict[str, str]:
    """Vendor files change only with mlgraph's version; mlgraph's own are revalidated."""
    if parts[0] == "vendor":
        return {"cache-control": "public, max-age=86400"}
    return {"cache-control": "no-cache"}


def routes(*, with_dashboard: bool) -> list[Route]:
    """``/static/`` always (GraphiQL's assets); ``/`` on the combined schema only (a subgraph
    lacks most of the fields the dashboard reads)."""
    found = [Route("/static/{path:path}", static, methods=["GET", "HEAD"])]
    if with_dashboard:
        found.append(Route("/", dashboard))
    return found
