"""The Node side of the federated topology: ``federation/compose.mjs`` (Apollo's composition)
and Hive Gateway's command line. Both run from ``federation/node_modules`` (``npm ci``, done by
``make federation-deps``, which ``make test`` and ``make federation`` depend on)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from mlgraph.federated.layout import LOOPBACK, Layout

__all__ = ["CompositionError", "NodeMissing", "compose", "gateway_command", "node_binary"]

#: Environment variables that would make Hive Gateway contact a registry, a CDN or a
#: telemetry endpoint; the gateway never inherits them.
REMOTE_ENV_PREFIXES = ("HIVE_", "APOLLO_", "OPENTELEMETRY", "OTEL_")


class NodeMissing(RuntimeError):
    """Node or the pinned packages are not installed."""


class CompositionError(RuntimeError):
    """Composition failed; the message lists each error ``compose.mjs`` printed."""


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise NodeMissing("node (20 or newer) is not on PATH; the federated topology needs it")
    return node


def _require_packages(layout: Layout) -> None:
    if not (layout.federation_dir / "node_modules" / "@graphql-hive" / "gateway").is_dir():
        raise NodeMissing(
            f"{layout.federation_dir / 'node_modules'} is missing: run `make federation-deps` "
            "(npm ci --prefix federation)"
        )


def compose(
    layout: Layout,
    *,
    out: Path,
    ports: Mapping[str, int] | None = None,
    api_schema: Path | None = None,
) -> None:
    """Compose the layout's subgraphs into ``out`` (routing URLs on the loopback interface at
    ``ports``, default each subgraph's own), and the API schema into ``api_schema`` if given."""
    _require_packages(layout)
    argv = [node_binary(), str(layout.federation_dir / "compose.mjs"), "--root", str(layout.root)]
    argv += ["--out", str(out)]
    for sub in layout.subgraphs:
        if ports and sub.name in ports:
            argv += ["--url", f"{sub.name}={sub.url(ports[sub.name])}"]
    if api_schema is not None:
        argv += ["--api-schema", str(api_schema)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise CompositionError(done.stderr.strip() or f"compose.mjs exited {done.returncode}")


def gateway_command(layout: Layout, supergraph: Path, port: int) -> list[str]:
    """Hive Gateway on ``supergraph`` with mlgraph's config, on the loopback interface."""
    _require_packages(layout)
    binary = layout.federation_dir / "node_modules" / "@graphql-hive" / "gateway" / "dist"
    return [
        node_binary(),
        str(binary / "bin.js"),
        "supergraph",
        str(supergraph),
        "--config-path",
        str(layout.federation_dir / "gateway.config.mjs"),
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--fork",
        str(layout.gateway_workers),
    ]


def gateway_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without anything that would turn on a remote feature of the gateway."""
    return {k: v for k, v in env.items() if not k.startswith(REMOTE_ENV_PREFIXES)}
