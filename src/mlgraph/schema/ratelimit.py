"""The caller's rate limit as the graph tells it: ``Query.rateLimit`` (GitHub's shape)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from mlgraph.context import Context
from mlgraph.ratelimit import RateStatus


def rate_status(context: Context) -> RateStatus | None:
    """The principal's budget after this request's charge (or as it stands, if none)."""
    if context.rate is not None:
        return context.rate
    if context.limiter is None:
        return None
    return context.limiter.status(context.principal.id)


@strawberry.type(description="The caller's rate limit in points, as GitHub counts them.")
class RateLimit:
    limit: int = strawberry.field(description="Points the caller may spend per period (an hour).")
    cost: int = strawberry.field(description="Points this operation was charged.")
    node_count: int = strawberry.field(description="Most nodes this operation can return.")
    remaining: int = strawberry.field(description="Points left now.")
    used: int = strawberry.field(description="Points spent and not yet refilled.")
    reset_at: datetime = strawberry.field(
        description="When the budget is whole again if nothing more is spent."
    )


def rate_limit(context: Context) -> RateLimit | None:
    rate = rate_status(context)
    if rate is None:
        return None
    return RateLimit(
        limit=rate.limit,
        cost=rate.cost,
        node_count=0 if context.cost is None else context.cost.nodes,
        remaining=rate.remaining,
        used=rate.used,
        reset_at=datetime.fromtimestamp(rate.reset_at, UTC),
    )
