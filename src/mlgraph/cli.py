"""The ``mlgraph`` command: serve, migrate, seed, export the schema."""

from __future__ import annotations

import asyncio
import logging.config
import os
import sys
from pathlib import Path

import click

from mlgraph.domains import DOMAIN_NAMES
from mlgraph.settings import Settings
from mlgraph.telemetry.logs import logging_config

SDL_PATH = Path("graphql/schema.graphql")
SUBGRAPHS_DIR = Path("graphql/subgraphs")
SUBGRAPH = click.Choice(DOMAIN_NAMES)


@click.group()
def main() -> None:
    """mlgraph: a GraphQL API gateway for machine-learning operations."""
    logging.config.dictConfig(logging_config(Settings()))


@main.command()
@click.option("--host", default=None, help="Bind address (default MLGRAPH_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default MLGRAPH_PORT, 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--subgraph", type=SUBGRAPH, default=None, help="Serve one domain's subgraph.")
@click.option(
    "--simulate", is_flag=True, help="Also run `mlgraph demo simulate` against it (the demo)."
)
def serve(
    host: str | None, port: int | None, workers: int, subgraph: str | None, simulate: bool
) -> None:
    """Serve GraphQL (and GraphiQL) at http://HOST:PORT/graphql and the dashboard at /: the
    combined schema, or with --subgraph one domain's federation subgraph (MLGRAPH_SUBGRAPH)."""
    import shutil
    import subprocess

    import uvicorn

    from mlgraph.app.websockets import uvicorn_ws
    from mlgraph.telemetry import metrics

    if subgraph is not None:
        os.environ["MLGRAPH_SUBGRAPH"] = subgraph  # the app factory reads Settings() again
    if host is not None or port is not None:  # so that the app (and the simulator) agree
        os.environ["MLGRAPH_HOST"] = host or Settings().host
        os.environ["MLGRAPH_PORT"] = str(port or Settings().port)
    settings = Settings()
    shared_metrics = None
    if workers > 1 and not os.environ.get(metrics.MULTIPROCESS_ENV):  # see telemetry/metrics.py
        shared_metrics = metrics.fresh_multiprocess_dir(
            settings.data_dir / f"metrics-{os.getpid()}"
        )
        os.environ[metrics.MULTIPROCESS_ENV] = str(shared_metrics.resolve())
    _banner(settings)
    simulator = None
    if simulate:
        command = [sys.executable, "-m", "mlgraph", "demo", "simulate", "--wait", "60"]
        command += ["--url", settings.client_url]
        simulator = subprocess.Popen(command)  # noqa: S603 - our own CLI
    try:
        uvicorn.run(
            "mlgraph.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings),
            ws=uvicorn_ws(settings.live_ws_implementation),
            ws_per_message_deflate=settings.live_ws_deflate,
            ws_max_size=settings.live_max_message_bytes,  # refused before it is buffered
            access_log=not simulate,  # the simulator prints a line per action instead
        )
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(10)
        if shared_metrics is not None:
            shutil.rmtree(shared_metrics, ignore_errors=True)


def _banner(settings: Settings) -> None:
    """Where everything is, from the one port setting."""
    url = settings.client_url
    if settings.subgraph is not None:
        click.echo(f"subgraph {settings.subgraph}: {url}/graphql")
        return
    click.echo(f"dashboard: {url}/")
    signed_in = "signed in as the demo admin (dev-only)" if settings.dev_sign_in_active else ""
    click.echo(f"GraphiQL:  {url}/graphql  {signed_in}".rstrip())
    if settings.local_issuer:
        click.echo("a token:   .venv/bin/mlgraph token --user admin@example.com --role admin")


@main.group()
def db() -> None:
    """Database migrations."""


@db.command()
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Migrate the configured database (MLGRAPH_DATABASE_URL) to REVISION."""
    from mlgraph.migrations import upgrade as run_upgrade

    settings = Settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_upgrade(settings.effective_database_url, revision)
    click.echo(f"database at revision {revision}: {_redact(settings.effective_database_url)}")


@main.command()
@click.option("--demo", is_flag=True, help="Demo data: a few projects, every state shown.")
@click.option("--projects", type=int, default=None, help="Bulk data with N projects instead.")
@click.option("--force", is_flag=True, help="Seed even if the database already has projects.")
def seed(demo: bool, projects: int | None, force: bool) -> None:
    """Fill the database with demo (or bulk) data. Skips a database that has projects."""
    if not demo and projects is None:
        raise click.UsageError("pass --demo or --projects N")
    from mlgraph.seed import seed_bulk, seed_demo, seed_demo_objects, seed_is_empty
    from mlgraph.storage.db import create_engine, create_sessions
    from mlgraph.storage.objects import open_store

    async def run() -> str:
        settings = Settings()
        engine = create_engine(settings)
        sessions = create_sessions(engine)
        try:
            if not force and not await seed_is_empty(sessions):
                return "database already has projects; nothing seeded (use --force)"
            if projects is not None:
                return str(await seed_bulk(sessions, projects=projects))
            summary = await seed_demo(sessions)
            async with open_store(settings) as store:
                written = await seed_demo_objects(sessions, store)
            return f"{summary}; {written} artifacts, reports and logs in the object store"
        finally:
            await engine.dispose()

    click.echo(asyncio.run(run()))


@main.command()
@click.option("--user", required=True, help="Subject (sub) of the token, e.g. alice@example.com.")
@click.option(
    "--role",
    type=click.Choice(["admin", "user"]),
    default="user",
    show_default=True,
    help="admin: platform ADMIN; user: only the roles the user holds in projects.",
)
@click.option("--hours", type=int, default=12, show_default=True, help="Lifetime.")
@click.option("--header", is_flag=True, help="Print a JSON headers object for GraphiQL.")
def token(user: str, role: str, hours: int, header: bool) -> None:
    """Print a token of the local issuer, which the embedded server accepts."""
    import json

    from mlgraph.auth.local_issuer import issue_token

    settings = Settings()
    roles = settings.oidc_admin_roles[:1] if role == "admin" else []
    value = issue_token(settings, subject=user, roles=roles, ttl_s=hours * 3600)
    click.echo(json.dumps({"Authorization": f"Bearer {value}"}) if header else value)


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command()
def verify() -> None:
    """Re-compute the audit chain; exit 1 and name the first broken entry if it does not hold."""
    from mlgraph.resolvers.audit import verify_audit_chain
    from mlgraph.storage.db import create_engine, create_sessions

    async def run() -> tuple[bool, str]:
        engine = create_engine(Settings())
        try:
            report = await verify_audit_chain(create_sessions(engine))
        finally:
            await engine.dispose()
        if report.ok:
            return True, f"audit chain ok: {report.checked} entries verified"
        return False, (
            f"audit chain BROKEN at seq {report.broken_seq} (entry {report.broken_id}): "
            f"{report.reason}; {report.checked} entries before it verified"
        )

    ok, message = asyncio.run(run())
    click.echo(message, err=not ok)
    sys.exit(0 if ok else 1)


@main.command("schema")
@click.option("--check", is_flag=True, help="Fail if a checked-in SDL is out of date.")
@click.option("--subgraph", type=SUBGRAPH, default=None, help="Only this domain's subgraph.")
def export_schema(check: bool, subgraph: str | None) -> None:
    """Write the SDLs: the combined schema to graphql/schema.graphql and each domain's
    subgraph to graphql/subgraphs/NAME.graphql (with --subgraph, only that one)."""
    from mlgraph.schema import sdl_files

    stale = []
    for path, sdl in sdl_files(SDL_PATH, SUBGRAPHS_DIR, subgraph).items():
        if check:
            if not path.exists() or path.read_text() != sdl:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sdl)
        click.echo(f"wrote {path}")
    for path in stale:
        click.echo(f"{path} is out of date: run `mlgraph schema`", err=True)
    if check:
        if not stale:
            click.echo("the checked-in SDLs are up to date")
        sys.exit(1 if stale else 0)


@main.command("documents")
@click.option("--check", is_flag=True, help="Fail if the checked-in manifest is out of date.")
def trusted_documents(check: bool) -> None:
    """Write the trusted-documents manifest (graphql/trusted-documents.json: {sha256: document})
    of every document in graphql/operations/, for MLGRAPH_TRUSTED_DOCUMENTS."""
    import json

    from mlgraph.app.persisted import MANIFEST, OPERATIONS, manifest_of

    documents = manifest_of(OPERATIONS)
    text = json.dumps(documents, indent=2, ensure_ascii=False) + "\n"
    if check:
        current = MANIFEST.exists() and MANIFEST.read_text() == text
        click.echo(
            "the trusted-documents manifest is up to date"
            if current
            else f"{MANIFEST} is out of date: run `mlgraph documents`",
            err=not current,
        )
        sys.exit(0 if current else 1)
    MANIFEST.write_text(text)
    click.echo(f"wrote {MANIFEST} ({len(documents)} documents)")


def _redact(url: str) -> str:
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


@main.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--operation", default=None, help="Operation name, if the file holds several.")
@click.option("--variables", default=None, help="Variables as a JSON object.")
@click.option("--subgraph", type=SUBGRAPH, default=None, help="Plan against this subgraph.")
def explain(
    document: Path, operation: str | None, variables: str | None, subgraph: str | None
) -> None:
    """Print the SQL the compiled read path runs for DOCUMENT, or why it falls back."""
    import json

    from mlgraph.auth.principal import Principal
    from mlgraph.compiled import Fallback
    from mlgraph.schema import Limits, build_schema
    from mlgraph.schema.limits import refusals

    settings = Settings()
    values = json.loads(variables) if variables else None
    if values is not None and not isinstance(values, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--variables")
    domains = tuple(d for d in DOMAIN_NAMES if subgraph in (None, d))
    limits = Limits.of(settings)
    schema = build_schema(domains, limits=limits)
    text = document.read_text()
    if refused := refusals(limits, schema._schema, text):
        click.echo("plan: refused before it runs, as the server would refuse it")
        for error in refused:
            code = getattr(error.original_error, "code", None)
            click.echo(f"reason: {f'{code.value}: ' if code else ''}{error.message}")
        raise SystemExit(1)
    admin = Principal(id="explain", display_name="explain", platform_admin=True)
    plan = schema.planner.plan(text, operation, values, admin)
    if isinstance(plan, Fallback):
        click.echo(f"plan: resolver\nreason: {plan.reason}")
        return
    click.echo("plan: compiled (one statement, as a platform admin: no visibility filter)")
    if not settings.compiled_reads or not settings.is_postgresql:
        click.echo("note: this configuration answers on the resolver path (SQLite or disabled)")
    click.echo(plan.sql)
    click.echo(f"parameters: {[str(p) if not isinstance(p, int) else p for p in plan.params]}")
    if plan.objects:
        kinds = ", ".join(slot.kind for slot in plan.objects)
        click.echo(f"object-store fields, filled in one batched pass afterwards: {kinds}")


@main.group()
def demo() -> None:
    """The demo: a simulated runner and monitor."""


@demo.command()
@click.option("--url", default=None, help="Server base URL (default MLGRAPH_URL).")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds per step.")
@click.option("--ticks", type=int, default=None, help="Stop after N steps (default: never).")
@click.option("--seed", type=int, default=None, help="Random seed, for a repeatable run.")
@click.option("--wait", type=float, default=0, help="Wait up to S seconds for the server.")
def simulate(
    url: str | None, interval: float, ticks: int | None, seed: int | None, wait: float
) -> None:
    """Move jobs and post drift through the GraphQL API, one line per action (watch it on the
    dashboard, or with a subscription in GraphiQL). Acts as a platform admin with a
    local-issuer token."""
    import httpx

    from mlgraph.auth.local_issuer import issue_token
    from mlgraph.demo import SimulationError, wait_until_ready
    from mlgraph.demo import simulate as run_simulation

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per action, not per request
    settings = Settings()
    token = issue_token(
        settings, subject="simulator@example.com", roles=settings.oidc_admin_roles[:1]
    )
    base = url or settings.client_url
    try:
        if wait:
            asyncio.run(wait_until_ready(base, wait))
        click.echo(f"simulating against {base} (Ctrl-C to stop)")
        counts = asyncio.run(
            run_simulation(
                base,
                {"Authorization": f"Bearer {token}"},
                interval_s=interval,
                ticks=ticks,
                seed=seed,
                report=lambda line: click.echo(line),
            )
        )
    except SimulationError as refused:
        raise click.ClickException(str(refused)) from None
    except httpx.HTTPError as down:
        raise click.ClickException(f"cannot reach {base}: {down!r}") from None
    except KeyboardInterrupt:
        return
    click.echo(" ".join(f"{k}={v}" for k, v in counts.items()))


from mlgraph.federated.cli import federation_group  # noqa: E402 - its own module; registered here

main.add_command(federation_group)
