"""``Mutation``: one class per domain, composed here."""

from __future__ import annotations

import strawberry

from mlgraph.schema.mutations.projects import ProjectMutations


@strawberry.type(description="Change the MLOps graph. Every mutation is audited.")
class Mutation(ProjectMutations):
    pass
