"""Settings: the only place that reads the environment (prefix ``MLGRAPH_``)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlgraph.domains import DomainName
from mlgraph.storage.enums import Stage


class Settings(BaseSettings):
    """Runtime configuration. Every field can be set as ``MLGRAPH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MLGRAPH_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path(".mlgraph"),
        description="Embedded default: holds the SQLite file and the local artifact directory.",
    )
    database_url: str = Field(
        default="",
        description=(
            "SQLAlchemy async URL. Empty means the embedded SQLite file in data_dir; "
            "postgresql+asyncpg://... selects PostgreSQL."
        ),
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(
        default=10,
        ge=0,
        description=(
            "Connections opened past db_pool_size under load, closed again when returned: "
            "0 keeps the pool fixed, and requests queue for a connection in arrival order."
        ),
    )
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_pool_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a request may queue for a pooled connection."
    )
    db_statement_timeout_s: float = Field(default=30.0, gt=0)
    execution_deadline_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "An HTTP operation answers UNAVAILABLE (HTTP 503, Retry-After) when it has not "
            "finished by then; its statement is cancelled in PostgreSQL."
        ),
    )
    host: str = "127.0.0.1"
    port: int = 8000
    url: str = Field(
        default="",
        description=(
            "Where clients find this server (`mlgraph demo simulate`, the examples, the URLs "
            "`mlgraph serve` prints); default http://127.0.0.1:PORT."
        ),
    )
    graphiql: bool = True
    trusted_documents: Path | None = Field(
        default=None,
        description=(
            "A trusted-documents manifest (`mlgraph documents` writes "
            "graphql/trusted-documents.json): only its documents run."
        ),
    )
    trusted_documents_admin_bypass: bool = Field(
        default=False, description="Let platform admins run any document in that mode."
    )
    dev_sign_in: bool = Field(
        default=True,
        description=(
            "GraphiQL and the dashboard open signed in as the demo admin (a local-issuer token, "
            "shown in the page). Only ever in effect in the embedded default: see "
            "`dev_sign_in_active`."
        ),
    )
    operations_dir: Path | None = Field(
        default=None,
        description=(
            "The operations GraphiQL preloads and the dashboard runs; default: the source "
            "tree's graphql/operations."
        ),
    )
    subgraph: DomainName | None = Field(
        default=None,
        description="Serve only this domain's federation subgraph; unset: the combined schema.",
    )
    # Request limits (README "Errors"): a document over one is refused before anything runs.
    # Page sizes: `first`/`last` within 1..the relation's declared page cap (100).
    max_document_chars: int = Field(default=15_000, ge=1, description="Characters of a document.")
    max_tokens: int = Field(default=1_000, ge=1, description="Tokens, counted by the parser.")
    max_query_depth: int = Field(
        default=10, ge=1, description="Depth of an operation, fragments flattened (root: 0)."
    )
    max_aliases: int = Field(default=15, ge=0, description="Aliases in an operation.")
    max_directives: int = Field(default=50, ge=0, description="Directives in an operation.")
    max_root_fields: int = Field(default=20, ge=1, description="Root fields of an operation.")
    max_json_depth: int = Field(
        default=64, ge=1, description="Nesting of JSON request bodies and JSON scalar values."
    )
    introspection: bool | None = Field(
        default=None,
        description="Answer `__schema`/`__type` (and suggest field names in errors). Unset: on "
        "in the embedded default only (see `introspection_active`).",
    )
    gc_freeze: bool = Field(default=True, description="gc.freeze() start-up objects after boot.")
    gc_threshold: tuple[int, int, int] = Field(
        default=(100_000, 50, 100),
        description="gc.set_threshold() for the server process (measured: +70% dashboard req/s).",
    )
    log_level: str = "INFO"
    public_url: str = Field(
        default="", description="Base URL clients reach this server at (default http://host:port)."
    )
    secret_key: str = Field(
        default="",
        description="Signs local upload URLs. Empty: generated once into data_dir/secret.key.",
    )
    max_body_bytes: int = Field(
        default=2 * 2**20, ge=1024, description="Largest GraphQL request body (413 above it)."
    )
    max_artifact_bytes: int = Field(default=5 * 2**30, ge=1, description="Largest declared upload.")
    upload_url_ttl_s: int = Field(default=900, ge=1, le=7 * 86400)

    # Identity (see README "Signing in"): OIDC bearer tokens, API keys, the local issuer.
    oidc_issuer: str = Field(
        default="", description="OIDC issuer URL; its discovery document names the JWKS."
    )
    oidc_audience: str = Field(default="mlgraph", description="Required `aud` of tokens.")
    oidc_algorithms: list[str] = Field(
        default=["RS256", "ES256"], description="Accepted signature algorithms (never none/HS*)."
    )
    oidc_jwks_cache_s: int = Field(default=300, ge=1, description="How long JWKS are cached.")
    oidc_jwks_refetch_s: int = Field(
        default=30, ge=1, description="At most one JWKS refetch per this many seconds."
    )
    oidc_leeway_s: int = Field(default=30, ge=0, le=60, description="Clock skew for exp/nbf.")
    oidc_roles_claim: str = Field(default="roles", description="Claim listing the roles/groups.")
    oidc_admin_roles: list[str] = Field(
        default=["mlgraph-admin"], description="Roles in that claim that make a platform ADMIN."
    )
    local_issuer: bool = Field(
        default=True,
        description="Accept tokens from `mlgraph token` (signing key kept in the data dir).",
    )
    anonymous_read: bool = Field(
        default=False, description="Let requests without credentials read every project."
    )

    # Object storage (see README "Artifacts and object storage").
    object_store: Literal["local", "s3"] = Field(
        default="local", description="`local`: a directory in data_dir; `s3`: an S3 bucket."
    )
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint (MinIO, Ceph); empty means AWS."
    )
    s3_region: str = "us-east-1"
    s3_bucket: str = Field(default="mlgraph", description="The bucket (it must exist).")
    s3_access_key_id: str = Field(
        default="", description="Empty: botocore's usual chain (env, profile, instance role)."
    )
    s3_secret_access_key: SecretStr = SecretStr("")
    s3_path_style: bool = Field(
        default=False, description="Path-style addressing (MinIO and most on-premise stores)."
    )
    s3_max_pool_connections: int = Field(
        default=32, ge=1, description="The process's connection pool to the object store."
    )
    object_concurrency: int = Field(
        default=16, ge=1, le=256, description="Object requests in flight per GraphQL request."
    )
    object_timeout_s: float = Field(
        default=5.0, gt=0, description="Bound on one object request (connect and read)."
    )
    download_url_ttl_max_s: int = Field(
        default=3600, ge=1, le=7 * 86400, description="Cap on `downloadUrl(expiresIn:)`."
    )
    max_report_bytes: int = Field(
        default=4 * 2**20, ge=1, description="Largest JSON report `DriftMetric.report` reads."
    )

    # Live updates (see README "Live updates"): outbox dispatcher, broker, subscriptions.
    live_broker: Literal["auto", "memory", "postgres"] = Field(
        default="auto",
        description="Event broker: in-process (memory), PostgreSQL LISTEN/NOTIFY (postgres), "
        "or auto (postgres on PostgreSQL, else memory).",
    )
    live_enabled: bool = Field(
        default=True, description="Run the outbox dispatcher and the subscription hub."
    )
    live_poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Fallback outbox poll when no notification arrives (lost NOTIFY, dead peer).",
    )
    live_batch_size: int = Field(default=500, ge=1, le=10_000)
    live_retention_s: int = Field(
        default=7 * 86400, ge=60, description="How long outbox events can be replayed (`after:`)."
    )
    live_queue_size: int = Field(
        default=256, ge=1, description="Events buffered per subscription before it is dropped."
    )
    live_max_subscriptions: int = Field(
        default=20, ge=1, description="Operations one WebSocket connection may run at once."
    )
    live_auth_recheck_s: float = Field(
        default=30.0, gt=0, description="How often a live connection's credential is re-checked."
    )
    live_max_message_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest WebSocket message a client may send."
    )
    live_init_timeout_s: float = Field(
        default=10.0, gt=0, description="Time a WebSocket client has to send connection_init."
    )
    live_direct_delivery: bool = Field(
        default=True,
        description="graphql-transport-ws subscriptions write each event's `next` message "
        "themselves, encoded once per selection and rights; off: through strawberry's "
        "per-subscriber stream (~1.4x the CPU per message, bench/subscribers.py).",
    )
    live_ws_implementation: Literal["websockets", "websockets-sansio"] = Field(
        default="websockets-sansio",
        description="uvicorn's WebSocket protocol: websockets' sans-I/O core (timers, no "
        "task per connection) or its legacy asyncio protocol (three tasks per connection).",
    )
    live_ws_deflate: bool = Field(
        default=False,
        description="WebSocket permessage-deflate. Off: small JSON events gain little, and each "
        "connection's zlib state costs far more memory than the rest of it (bench/subscribers.py).",
    )

    # Rollouts (see README "Progressive rollouts"): the scheduler each replica runs.
    rollout_scheduler: bool = Field(
        default=True, description="Run the rollout scheduler (steps, gates, rollbacks)."
    )
    rollout_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often the rollout scheduler looks for due steps."
    )

    # Webhooks (see README "Webhooks"): signing secrets, the SSRF guard, delivery and retries.
    webhooks_enabled: bool = Field(
        default=True, description="Run the webhook deliverer (fan-out and HTTP delivery)."
    )
    webhook_secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Encrypts webhook signing secrets at rest. Empty: derived from secret_key "
        "(or the data directory's generated key).",
    )
    webhook_secret_overlap_s: int = Field(
        default=86400,
        ge=0,
        description="How long a rotated-out secret keeps signing beside the new.",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Accept http:// endpoints (development and tests only)."
    )
    webhook_allow_loopback: str = Field(
        default="",
        description="`host:port` of loopback receivers the SSRF guard lets through, comma "
        "separated (tests, benchmarks).",
    )
    webhook_connect_timeout_s: float = Field(default=10.0, gt=0)
    webhook_read_timeout_s: float = Field(default=10.0, gt=0)
    webhook_retry_schedule_s: list[float] = Field(
        default=[5, 300, 1800, 7200, 18000, 36000, 36000],
        min_length=0,
        description="Delay before each retry (jittered); after the last the delivery FAILED.",
    )
    webhook_retry_jitter: float = Field(
        default=0.1, ge=0, le=1, description="Each delay varies by up to this fraction."
    )
    webhook_max_retry_after_s: float = Field(
        default=36000, gt=0, description="Cap on a receiver's Retry-After (429, 503)."
    )
    webhook_disable_after: int = Field(
        default=5, ge=1, description="Consecutive failed events that disable an endpoint."
    )
    webhook_poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often the deliverer looks for due deliveries."
    )
    webhook_concurrency: int = Field(
        default=64,
        ge=1,
        le=256,
        description="Deliveries in flight per process (HTTP requests; a slot is free again once "
        "the response is in). 16 held up 10 receivers at ~14 events/s (bench/webhooks.py).",
    )
    webhook_max_payload_bytes: int = Field(default=256 * 1024, ge=1024)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mlgraph.sqlite3').resolve()}"

    @property
    def artifact_dir(self) -> Path:
        """Local object-store directory for the embedded default."""
        return self.data_dir / "objects"

    @property
    def client_url(self) -> str:
        """``url``, or this machine's address of ``port`` (whatever ``host`` binds)."""
        return (self.url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def effective_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def signing_key(self) -> bytes:
        """``secret_key``, or a random key kept in the data directory (embedded default)."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    @property
    def is_embedded_default(self) -> bool:
        """SQLite, the local issuer, no OIDC issuer, listening on loopback: never production."""
        return (
            self.local_issuer
            and not self.database_url
            and not self.oidc_issuer
            and self.host in ("127.0.0.1", "localhost", "::1")
        )

    @property
    def dev_sign_in_active(self) -> bool:
        """The dev-only sign-in: on only for the embedded default."""
        return self.dev_sign_in and self.is_embedded_default

    @property
    def introspection_active(self) -> bool:
        """``introspection`` if set, else on only for the embedded default."""
        return self.is_embedded_default if self.introspection is None else self.introspection

    @property
    def is_postgresql(self) -> bool:
        return self.effective_database_url.startswith("postgresql")

    # Compiled read path (issue 7): whole read operations as one PostgreSQL statement.
    compiled_reads: bool = Field(
        default=True,
        description=(
            "Answer compilable read operations with one SQL statement on PostgreSQL "
            "(response header x-mlgraph-plan: compiled); false forces the resolver path."
        ),
    )
    compiled_pool_size: int = Field(
        default=4,
        ge=1,
        description=(
            "PostgreSQL connections of the compiled read path: a pool of its own that never "
            "grows, so compiled statements beyond it queue for a connection in arrival order "
            "instead of sharing the cores among more backends (about the database's cores)."
        ),
    )

    # Domain rules (issue 16).
    traffic_stages: tuple[Stage, ...] = Field(
        default=(Stage.STAGING, Stage.PRODUCTION),
        description=(
            "Stages a model version must be in to receive traffic (createDeployment, "
            "shiftTraffic, promoteDeployment, rollbackDeployment); as JSON in the "
            'environment: MLGRAPH_TRAFFIC_STAGES=\'["STAGING","PRODUCTION"]\'.'
        ),
    )

    # Telemetry (issue 17): spans, /metrics, log lines. Where spans go is set by OpenTelemetry's
    # own variables (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, ...): nowhere by default.
    telemetry: bool = Field(
        default=True,
        description="OpenTelemetry spans (exported only where OTEL_* variables say) and "
        "Prometheus metrics; false: neither is recorded and /metrics is not served.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object per log line (time, level, logger, message, "
        "request_id, trace_id, span_id).",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="/metrics answers only `Authorization: Bearer <this token>`; empty: "
        "/metrics is not served.",
    )

    # Cost and rate limits (issue 17; README "Cost and rate limits").
    max_query_nodes: int = Field(
        default=500_000,
        ge=1,
        description="Most nodes an operation may ask for (GitHub's formula: page sizes "
        "multiplied down the tree); over it, COST_LIMIT_EXCEEDED before anything runs.",
    )
    rate_limit_points: int = Field(
        default=5000, ge=1, description="Points a principal may spend per rate-limit period."
    )
    rate_limit_period_s: float = Field(
        default=3600, gt=0, description="The period over which the points refill evenly."
    )
    rate_limit_concurrency: int = Field(
        default=100, ge=1, description="Requests in flight per principal, per replica (429 over)."
    )
    rate_limit_chunk_points: int = Field(
        default=250,
        ge=0,
        description="Points a replica reserves from the shared (PostgreSQL) bucket at a time: "
        "one round trip per chunk; up to this many reserved points per replica may sit unspent.",
    )
