"""Subscriptions: live job, alert and deployment events, resumable by outbox cursor.

Each event carries ``cursor`` (its outbox position) and ``eventId`` (the same for a resent
event); ``after: cursor`` first replays the retained events after it, then goes live. The
entity fields (``job``, ``alert``, ``deployment``...) are read when the event is pushed, with
the subscriber's current rights; the other fields are the state the event recorded.

Every event runs with its own ``Context`` (``Context.for_event``): the subscriber's principal
as of that event, fresh loaders and a fresh object-store cache. The update carries an
:class:`EventRun` and the executor runs the event's selection with it
(``Executor.build_per_event_executor``), so the operations of one socket never share a
principal, loaders or cached rows. Subscribers with the same selection and the same rights
share one execution per event (``mlgraph.live.renders``): the event's entity is read once,
not once per subscriber. Over graphql-transport-ws they also share its encoded ``next``
payload (``mlgraph.live.delivery``): the hub writes it to the socket of each subscriber that
waits with nothing queued (``_Shared`` is its ``Fanout``), and the subscription's stream
writes what the hub hands back to it; an event whose result has errors goes through
strawberry's chain like every event over SSE.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry

from mlgraph.auth.principal import Principal
from mlgraph.context import Context
from mlgraph.errors import BadUserInput, Forbidden, NotFound, RateLimited, Unauthenticated
from mlgraph.ids import decode_global_id
from mlgraph.live.connection import FORBIDDEN, UNAUTHORIZED, LiveConnection, readable
from mlgraph.live.delivery import DIRECT, Direct
from mlgraph.live.events import LiveEvent, check_retained, decode_stream_cursor
from mlgraph.live.hub import Interest, SlowConsumer, StreamEnded
from mlgraph.live.renders import Renders, rights
from mlgraph.schema.columns import owned_by
from mlgraph.schema.deployments import Deployment, DeploymentEvent
from mlgraph.schema.enums import AlertStatus, DeploymentEventKind, JobStatus
from mlgraph.schema.execution import SUBSCRIBING, Executor
from mlgraph.schema.monitoring import Alert
from mlgraph.schema.pipelines import Job
from mlgraph.schema.relay import Info, node_class

JOB_TOPICS = ("job.created", "job.updated")
ALERT_TOPICS = ("alert.fired", "alert.resolved", "alert.updated")
DEPLOYMENT_TOPICS = ("deployment.updated",)

ProjectArg = Annotated[strawberry.ID, strawberry.argument(description="The project's global ID.")]
AfterArg = Annotated[
    str | None,
    strawberry.argument(
        description="Replay the retained events after this cursor before going live."
    ),
]


@dataclass(frozen=True, slots=True)
class EventRun:
    """One subscriber's event: its position, the subscriber's principal as of the event,
    the socket's context and the hub's shared results."""

    position: int
    principal: Principal
    socket: Context
    renders: Renders

    def context(self) -> Context:
        return self.socket.for_event(self.principal)


@strawberry.interface(description="An event from the outbox, pushed live or replayed.")
class LiveUpdate:
    cursor: str = strawberry.field(description="Stream position: pass it as `after` to resume.")
    event_id: strawberry.ID = strawberry.field(
        description="Unique per event; an event delivered twice keeps its id."
    )
    topic: str = strawberry.field(description="What happened, e.g. `job.updated`.")
    occurred_at: datetime = strawberry.field(description="When the change was committed.")
    entity_pk: strawberry.Private[uuid.UUID | None]
    payload: strawberry.Private[dict[str, Any]]
    #: How this event's selection runs (read by the executor).
    event_run: strawberry.Private[EventRun]

    @classmethod
    def fields_of(cls, event: LiveEvent, run: EventRun) -> dict[str, Any]:
        return {
            "event_run": run,
            "cursor": event.cursor,
            "event_id": strawberry.ID(str(event.event_id)),
            "topic": event.topic,
            "occurred_at": event.created_at,
            "entity_pk": event.entity_id,
            "payload": event.payload,
        }


async def _node(info: Info, type_name: str, pk: uuid.UUID | None) -> Any:
    if pk is None:
        return None
    row = await info.context.loaders.by_key(type_name).load(pk)
    return None if row is None else node_class(type_name).from_row(row)


@strawberry.type(description="A job was started or reported on.")
class JobUpdate(LiveUpdate):
    status: JobStatus = strawberry.field(description="The job's status as of this event.")
    progress: float = strawberry.field(description="The job's progress as of this event.")

    @strawberry.field(description="The job now (null if deleted or no longer visible).")
    async def job(self, info: Info) -> Job | None:
        node: Job | None = await _node(info, "Job", self.entity_pk)
        return node


@strawberry.type(description="An alert fired, was acknowledged or was resolved.")
class AlertUpdate(LiveUpdate):
    status: AlertStatus = strawberry.field(description="The alert's status as of this event.")

    @strawberry.field(description="The alert now (null if deleted or no longer visible).")
    async def alert(self, info: Info) -> Alert | None:
        node: Alert | None = await _node(info, "Alert", self.entity_pk)
        return node


@strawberry.type(description="Something happened to a deployment.")
class DeploymentUpdate(LiveUpdate):
    kind: DeploymentEventKind = strawberry.field(description="What happened.")

    @strawberry.field(description="The deployment now (null if no longer visible).")
    async def deployment(self, info: Info) -> Deployment | None:
        node: Deployment | None = await _node(info, "Deployment", self.entity_pk)
        return node

    @strawberry.field(description="The recorded deployment event, with its details.")
    async def event(self, info: Info) -> DeploymentEvent | None:
        raw = self.payload.get("deploymentEventId")
        node: DeploymentEvent | None = await _node(
            info, "DeploymentEvent", uuid.UUID(raw) if isinstance(raw, str) else None
        )
        return node


def _pk(global_id: str, type_name: str, field: str) -> uuid.UUID:
    found, pk = decode_global_id(global_id, field=field)
    if found != type_name:
        raise BadUserInput(f"{field} must be the ID of a {type_name}", field=field)
    return pk


#: A subscription's root value for one event.
Build = Callable[[LiveEvent, EventRun], LiveUpdate]


def _job_update(e: LiveEvent, run: EventRun) -> LiveUpdate:
    return JobUpdate(
        **LiveUpdate.fields_of(e, run),
        status=JobStatus(e.payload["status"]),
        progress=float(e.payload.get("progress") or 0.0),
    )


def _alert_update(e: LiveEvent, run: EventRun) -> LiveUpdate:
    return AlertUpdate(**LiveUpdate.fields_of(e, run), status=AlertStatus(e.payload["status"]))


def _deployment_update(e: LiveEvent, run: EventRun) -> LiveUpdate:
    return DeploymentUpdate(
        **LiveUpdate.fields_of(e, run), kind=DeploymentEventKind(e.payload["kind"])
    )


async def _open(
    info: Info,
    project_id: str,
    topics: tuple[str, ...],
    entity: tuple[str, str | None, str] | None,
    after: str | None,
    build: Build,
) -> AsyncIterator[Any]:
    """Check the arguments and the caller's rights, then stream the matching events."""
    live = info.context.live
    if live is None:
        raise BadUserInput("subscriptions run over WebSocket or server-sent events")
    assert live.principal is not None  # authenticated before any operation runs
    ctx = info.context.for_event(live.principal)
    pid = _pk(project_id, "Project", "projectId")
    if not live.may_read(pid):
        raise Forbidden("you have no role in this project")
    if await ctx.loaders.by_key("Project").load(pid) is None:
        raise NotFound("no such project", field="projectId")
    entity_id = None
    if entity is not None and (global_id := entity[1]) is not None:
        type_name, _, field = entity
        entity_id = _pk(global_id, type_name, field)
        row = await ctx.loaders.by_key(type_name).load(entity_id)
        if row is None or row.project_id != pid:
            raise NotFound(f"no such {type_name} in this project", field=field)
    position = None if after is None else decode_stream_cursor(after)
    if position is not None:
        await check_retained(ctx.sessions, position)
    return _guarded(info, Interest(pid, topics, entity_id), position, build)


class _Shared:
    """Direct delivery of one subscription: its events' ``next`` payloads, encoded once per
    (event, selection, variables, rights) and written to its socket, by its own task
    (``send``) or, while it is parked, by the hub (the hub's ``Fanout``)."""

    __slots__ = (
        "build",
        "context",
        "direct",
        "executor",
        "live",
        "parked_as",
        "principal",
        "renders",
        "rights",
    )

    def __init__(
        self,
        direct: Direct,
        executor: Executor,
        live: LiveConnection,
        context: Context,
        build: Build,
    ) -> None:
        self.direct, self.executor, self.live = direct, executor, live
        self.renders, self.context, self.build = live.hub.renders, context, build
        self.principal: Principal | None = None
        self.rights: Hashable = None
        #: The connection's principal when the subscriber parked.
        self.parked_as: Principal | None = None

    def update(self, event: LiveEvent, principal: Principal) -> LiveUpdate:
        return self.build(event, EventRun(event.position, principal, self.context, self.renders))

    def group(self) -> Hashable | None:
        sink, principal = self.direct.sink, self.live.principal
        if sink is None or principal is None or not sink.accepts_frames():
            return None
        self._rights_of(principal)
        self.parked_as = principal
        return (self.executor.selection_key(self.rights), self.direct.prefix)

    def current(self) -> bool:
        principal = self.live.principal
        if principal is self.parked_as:
            return True
        if principal is None or rights(principal) != self.rights:
            return False
        self.parked_as = principal  # re-checked, with the same rights: the same group
        return True

    async def payload(self, event: LiveEvent) -> str | None:
        principal = self.parked_as
        if principal is None or not readable(principal, event.project_id):
            return None  # its task raises FORBIDDEN
        return await self._encoded(event, principal)

    async def send(self, event: LiveEvent, principal: Principal) -> bool:
        """Send the event's ``next`` message; False when its result has errors (strawberry's
        chain reports those, each with the subscriber's own request id)."""
        self._rights_of(principal)
        payload = await self._encoded(event, principal)
        if payload is None:
            return False
        await self.direct.send_next(payload)
        return True

    def _rights_of(self, principal: Principal) -> None:
        if principal is not self.principal:
            self.principal, self.rights = principal, rights(principal)

    async def _encoded(self, event: LiveEvent, principal: Principal) -> str | None:
        executor = self.executor
        key = ("next", executor.render_key(event.position, self.rights))
        payload: str | None = await self.renders.result(
            key, executor.operation, lambda: self._payload(event, principal)
        )
        return payload

    async def _payload(self, event: LiveEvent, principal: Principal) -> str | None:
        result = await self.executor.render(self.update(event, principal))
        return None if result.errors else self.direct.encode({"data": result.data})


async def _guarded(
    info: Info, interest: Interest, after: int | None, build: Build
) -> AsyncIterator[LiveUpdate]:
    ctx, live = info.context, info.context.live
    assert live is not None
    direct, executor = DIRECT.get(), SUBSCRIBING.get()
    shared = (
        _Shared(direct, executor, live, ctx, build)
        if direct is not None and executor is not None and ctx.settings.live_direct_delivery
        else None
    )
    stream = live.hub.stream(
        interest,
        after=after,
        queue_size=ctx.settings.live_queue_size,
        on_overflow=live.overflow,
        owner=live.subscribers,
        fanout=shared if shared is not None and shared.direct.sink is not None else None,
    )
    try:
        async for event in stream:
            if not live.may_read(event.project_id):
                raise Forbidden("your role in this project was removed")
            principal = live.principal
            assert principal is not None
            if shared is None:
                yield build(event, EventRun(event.position, principal, ctx, live.hub.renders))
            elif not await shared.send(event, principal):
                yield shared.update(event, principal)
    except SlowConsumer as slow:
        raise RateLimited(slow.reason) from None
    except StreamEnded as ended:
        code = live.closed[0] if live.closed else FORBIDDEN
        raise (Unauthenticated if code == UNAUTHORIZED else Forbidden)(ended.reason) from None
    finally:
        await stream.aclose()


@strawberry.type(description="Live updates over WebSocket or server-sent events.")
class Subscription:
    @strawberry.subscription(
        description="Jobs of a project started or reported on.", metadata=owned_by("pipelines")
    )
    async def job_updated(
        self,
        info: Info,
        project_id: ProjectArg,
        job_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this job; null for every job."),
        ] = None,
        after: AfterArg = None,
    ) -> AsyncGenerator[JobUpdate, None]:
        job = ("Job", job_id, "jobId")
        async for update in await _open(info, project_id, JOB_TOPICS, job, after, _job_update):
            yield update

    @strawberry.subscription(
        description="Alerts of a project fired, acknowledged or resolved.",
        metadata=owned_by("monitoring"),
    )
    async def alert_fired(
        self, info: Info, project_id: ProjectArg, after: AfterArg = None
    ) -> AsyncGenerator[AlertUpdate, None]:
        events = await _open(info, project_id, ALERT_TOPICS, None, after, _alert_update)
        async for update in events:
            yield update

    @strawberry.subscription(
        description="Traffic shifts, promotions, rollbacks of deployments.",
        metadata=owned_by("deployments"),
    )
    async def deployment_events(
        self,
        info: Info,
        project_id: ProjectArg,
        deployment_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this deployment; null for every one."),
        ] = None,
        after: AfterArg = None,
    ) -> AsyncGenerator[DeploymentUpdate, None]:
        events = await _open(
            info,
            project_id,
            DEPLOYMENT_TOPICS,
            ("Deployment", deployment_id, "deploymentId"),
            after,
            _deployment_update,
        )
        async for update in events:
            yield update


__all__ = ["AlertUpdate", "DeploymentUpdate", "JobUpdate", "Subscription"]
