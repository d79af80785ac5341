"""Serve mlgraph with one field added to the declaration: ``Artifact.storageKey``.

Run as ``python -m tests.fixture_declaration`` (settings from ``MLGRAPH_*``). The field is added
to the declaration only, before the schema is built: everything else (the strawberry type, both
read paths, audit snapshots) has to follow from it. ``tests/test_declaration_fixture.py``
checks that they do.
"""

from __future__ import annotations

import dataclasses

from mlgraph.storage.graph import ENTITIES
from mlgraph.storage.graph.declare import Field

_artifact = ENTITIES["Artifact"]
ENTITIES["Artifact"] = dataclasses.replace(
    _artifact,
    fields={**_artifact.fields, "storage_key": Field("Where the object store keeps the bytes.")},
)

if __name__ == "__main__":
    import uvicorn

    from mlgraph.app import create_app
    from mlgraph.settings import Settings

    settings = Settings()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")
