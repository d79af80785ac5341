"""Where the federated topology's parts are: ``federation/subgraphs.json`` names each subgraph
with its default local port, and optionally the SDL it serves.

```json
{"gateway": {"port": 4100},
 "subgraphs": {"projects": {"port": 4101}, "registry": {"port": 4103}}}
```

A subgraph's SDL is ``graphql/subgraphs/<name>.graphql`` unless ``sdl`` names another file; an
entry with ``"combined": true`` is served by plain ``mlgraph serve`` (the whole graph as one
subgraph), any other by ``mlgraph serve`` with ``MLGRAPH_SUBGRAPH=<name>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LOOPBACK", "Layout", "Subgraph", "load_layout"]

LOOPBACK = "127.0.0.1"
CONFIG = Path("federation") / "subgraphs.json"


@dataclass(frozen=True)
class Subgraph:
    name: str
    port: int
    sdl: Path
    combined: bool = False

    def url(self, port: int | None = None) -> str:
        """Its GraphQL endpoint on the loopback interface (at ``port`` if given)."""
        return f"http://{LOOPBACK}:{port or self.port}/graphql"


@dataclass(frozen=True)
class Layout:
    root: Path
    gateway_port: int
    subgraphs: tuple[Subgraph, ...]
    #: Hive Gateway worker processes (``--fork``); the gateway, not the subgraphs, is the CPU
    #: cost of a federated read (measured: 0.46x -> 0.60x PostGraphile with 2 on 2 cores).
    gateway_workers: int = 1

    @property
    def federation_dir(self) -> Path:
        return self.root / "federation"

    @property
    def supergraph(self) -> Path:
        """The checked-in supergraph (composed with the default ports)."""
        return self.root / "graphql" / "supergraph.graphql"

    @property
    def combined_sdl(self) -> Path:
        return self.root / "graphql" / "schema.graphql"


def load_layout(root: Path) -> Layout:
    """The layout of the repository (or copy of it) at ``root``."""
    raw: dict[str, Any] = json.loads((root / CONFIG).read_text())
    subgraphs = tuple(
        Subgraph(
            name=name,
            port=int(entry["port"]),
            sdl=root / entry.get("sdl", f"graphql/subgraphs/{name}.graphql"),
            combined=bool(entry.get("combined", False)),
        )
        for name, entry in raw["subgraphs"].items()
    )
    gateway = raw["gateway"]
    return Layout(root, int(gateway["port"]), subgraphs, int(gateway.get("workers", 1)))
