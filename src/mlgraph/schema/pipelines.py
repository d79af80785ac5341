"""Pipelines and their runs (jobs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeAlias

import strawberry

from mlgraph.schema.declared import entity_type
from mlgraph.schema.objects import (
    DEFAULT_EXPIRES_IN,
    EXPIRES_IN_DOC,
    OBJECT_STORE_CALL,
    download_url,
)
from mlgraph.schema.relay import Info, Node
from mlgraph.storage.objects.keys import job_logs_key


class _JobFields:
    @strawberry.field(
        description="A presigned URL of the job's log (`projects/<project>/jobs/<job>/logs.txt` "
        "in the object store, written by the runner); null while there is none.",
        directives=[OBJECT_STORE_CALL],
    )
    async def logs_url(
        self,
        info: Info,
        expires_in: Annotated[int, strawberry.argument(description=EXPIRES_IN_DOC)] = (
            DEFAULT_EXPIRES_IN
        ),
    ) -> str | None:
        key = job_logs_key(self.row.project_id, self.pk)  # type: ignore[attr-defined]
        return await download_url(info, key, expires_in, check=True)


if TYPE_CHECKING:  # mypy sees the generated types as Node
    Pipeline: TypeAlias = Node
    Job: TypeAlias = Node
else:
    Pipeline = entity_type("Pipeline")
    Job = entity_type("Job", _JobFields)
