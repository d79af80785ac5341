"""The audit trail: append-only, hash-chained entries, one per mutation."""

from mlgraph.storage import models as m
from mlgraph.storage.graph.declare import TIME_ORDERS, EntityDecl, Filter, fields, one, rels

ENTITIES = (
    EntityDecl(
        "AuditEntry",
        m.AuditEntry,
        "audit",
        "A record of one change: who did what to which object, chained by hashes.",
        fields(
            seq="Position in the global order of entries (increasing; it may skip numbers).",
            actor="Principal that made the change.",
            action="What was done, e.g. `model_version.transition`.",
            entity_type="GraphQL type of the changed object.",
            changes="`before` and `after` of the changed fields.",
            request_id="The request that made the change.",
            prev_hash="Hash of the previous entry.",
            hash="sha256(prev_hash + canonical entry).",
            created_at="When the change committed.",
            updated_at="Same as createdAt: entries never change.",
        ),
        orders={"SEQUENCE": "seq", "CREATED_AT": "created_at"},
        filters=(
            Filter("entity_id", "entity_id", "global_id", "Entries about this object (global ID)."),
            Filter("entity_type", "entity_type", "eq", "Entries about this type."),
            Filter("actor", "actor", "eq", "Entries by this principal."),
            Filter("action", "action", "eq", "This action, e.g. `model_version.transition`."),
            Filter("created_after", "created_at", "gte", "At or after this time."),
            Filter("created_before", "created_at", "lt", "Before this time."),
        ),
        filter_description="Filter the audit trail.",
        relations=rels(
            one("project", "Project", "project_id", "The project, if the change belongs to one.")
        ),
    ),
    EntityDecl(
        "ArtifactDownload",
        m.ArtifactDownload,
        "audit",
        "A download URL issued for an artifact (the read audit): who asked, when, from where.",
        fields(
            actor="Principal the URL was issued to.",
            client_address="The client's network address, as the server saw it.",
            request_id="The request that issued it.",
            expires_at="When the URL stops working.",
            created_at="When the URL was issued.",
            updated_at="Same as createdAt: records never change.",
        ),
        orders=dict(TIME_ORDERS),
        filters=(
            Filter("project_id", "project_id", "global_id", "Downloads in this project."),
            Filter("artifact_id", "artifact_id", "global_id", "Downloads of this artifact."),
            Filter("actor", "actor", "eq", "Downloads by this principal."),
            Filter("issued_after", "created_at", "gte", "Issued at or after this time."),
            Filter("issued_before", "created_at", "lt", "Issued before this time."),
        ),
        filter_description="Filter the read audit.",
        relations=rels(
            one("project", "Project", "project_id", "The artifact's project."),
            one("artifact", "Artifact", "artifact_id", "The artifact; null once deleted."),
        ),
    ),
)
