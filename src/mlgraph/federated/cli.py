"""``mlgraph federation up``: the federated topology for a person (``make federation``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import click

from mlgraph.settings import Settings


@click.group("federation")
def federation_group() -> None:
    """The graph as federated subgraphs behind Hive Gateway (see README "Federation")."""


@federation_group.command()
@click.option("--gateway-port", type=int, default=None, help="Default: federation/subgraphs.json.")
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=PORT",
    help="A subgraph's port (repeatable); default: federation/subgraphs.json.",
)
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per part.")
def up(gateway_port: int | None, ports: tuple[str, ...], timeout: float) -> None:
    """Start every subgraph and the gateway on loopback ports; run until Ctrl-C."""
    from mlgraph.federated.compose import CompositionError, NodeMissing
    from mlgraph.federated.launcher import StartFailed, federation
    from mlgraph.federated.layout import load_layout

    layout = load_layout(Path.cwd())
    chosen = dict(_port(p) for p in ports)
    work_dir = Settings().data_dir / "federation"

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every health poll

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # stop children
        async with federation(
            layout, work_dir, ports=chosen, gateway_port=gateway_port, timeout_s=timeout
        ) as running:
            for name, url in running.subgraph_urls.items():
                click.echo(f"subgraph {name}: {url}")
            click.echo(f"logs: {work_dir}/*.log")
            click.echo(f"gateway (GraphiQL): {running.gateway_url}  (Ctrl-C to stop)")
            while (gone := running.exited()) is None:  # noqa: ASYNC110 - state of other processes
                await asyncio.sleep(0.5)
            raise StartFailed(f"{gone.label} exited:\n{gone.tail()}")

    try:
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(run())
    except (StartFailed, CompositionError, NodeMissing) as failed:
        raise click.ClickException(str(failed)) from None


def _port(pair: str) -> tuple[str, int]:
    name, _, port = pair.partition("=")
    if not name or not port.isdigit():
        raise click.BadParameter(f"{pair!r} is not NAME=PORT", param_hint="--port")
    return name, int(port)
