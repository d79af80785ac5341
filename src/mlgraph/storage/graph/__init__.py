"""The graph, declared once, one module per domain: each type's fields with their
descriptions, its table and columns, each relation's keys, order and page cap, its filters and
orders. Everything else derives from it: the strawberry types and ``<Type>Filter`` inputs
(``mlgraph.schema``), the loaders (``mlgraph.loaders``), the compiled planner's tables and
filter SQL (``mlgraph.compiled``), audit snapshots (``storage.uow``) and the subgraphs. The
vocabulary is in ``declare``.
"""

from __future__ import annotations

from collections.abc import Iterable

from mlgraph.domains import DOMAIN_NAMES, DomainName
from mlgraph.storage.graph import (
    audit,
    deployments,
    monitoring,
    pipelines,
    projects,
    registry,
    webhooks,
)
from mlgraph.storage.graph.declare import (
    NEWEST,
    EntityDecl,
    Field,
    Filter,
    NumberKey,
    Order,
    Relation,
    Through,
)

__all__ = [
    "DOMAIN_NAMES",
    "ENTITIES",
    "ROOT",
    "VIEWER_MEMBERSHIPS",
    "DomainName",
    "EntityDecl",
    "Field",
    "Filter",
    "NumberKey",
    "Order",
    "Relation",
    "Through",
    "entity_for_table",
    "owner_domain",
    "relation",
]


def _index(decls: Iterable[EntityDecl]) -> dict[str, EntityDecl]:
    return {d.name: d for d in decls}


ENTITIES: dict[str, EntityDecl] = _index(
    d
    for module in (projects, pipelines, registry, deployments, monitoring, audit, webhooks)
    for d in module.ENTITIES
)
assert {d.domain for d in ENTITIES.values()} == set(DOMAIN_NAMES)

_FIRED = Order("fired_at", descending=True)

#: Root connections, the relations of ``Query``: no parent key, all visible rows.
ROOT: dict[str, Relation] = {
    r.name: r
    for r in (
        Relation("projects", "Project", "connection", order=Order("name"), description="Projects"),
        Relation(
            "models",
            "Model",
            "connection",
            order=Order("name"),
            description="Models across projects (search with `filter`)",
        ),
        Relation(
            "model_versions",
            "ModelVersion",
            "connection",
            order=NEWEST,
            description="Model versions across projects (search with `filter`, by metric too)",
        ),
        Relation(
            "deployments",
            "Deployment",
            "connection",
            order=NEWEST,
            description="Deployments across projects",
        ),
        Relation(
            "alerts", "Alert", "connection", order=_FIRED, description="Alerts across projects"
        ),
        Relation(
            "audit_entries",
            "AuditEntry",
            "connection",
            order=Order("seq", descending=True),
            description="The audit trail (filter by entity, actor, action, time)",
        ),
        Relation(
            "artifact_downloads",
            "ArtifactDownload",
            "connection",
            order=NEWEST,
            description="Download URLs issued (the read audit; filter by project, artifact, actor)",
        ),
    )
}

VIEWER_MEMBERSHIPS = projects.VIEWER_MEMBERSHIPS


def relation(owner: str, name: str) -> Relation:
    """The relation ``owner.name`` (owner ``Query`` for root connections)."""
    if owner == "Query":
        return ROOT[name]
    if owner == "Viewer":
        return VIEWER_MEMBERSHIPS
    return ENTITIES[owner].relations[name]


def owner_domain(owner: str, rel: Relation) -> DomainName:
    """The domain a relation field belongs to: the target's for to-many relations (its rows
    hold the key), the parent's for to-one relations (its row holds the key)."""
    if rel.kind == "one":
        return ENTITIES[owner].domain
    return ENTITIES[rel.target].domain


def entity_for_table(table_name: str) -> EntityDecl:
    for decl in ENTITIES.values():
        if decl.table.name == table_name:
            return decl
    raise KeyError(table_name)
