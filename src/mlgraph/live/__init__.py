"""Live updates: the outbox as an ordered log, a dispatcher, brokers, and a per-replica hub.

```
mutation ─► unit of work ─► outbox row (no stream position yet)
                 │ after commit: wake the local dispatcher
                 ▼
           Dispatcher ── numbers the stream, publishes {first,last,count} ──► Broker
           (every replica;                                in-process | PostgreSQL NOTIFY
            one round at a time)                                          │ wake-up
                                                                          ▼
           Hub (one per replica) ── tails the outbox by position ──► subscriptions
                                    (also every live_poll_interval_s)
```

Why the hub tails the outbox instead of receiving payloads from the broker: every replica
must deliver every event to its own subscribers, NOTIFY payloads are capped (8000 bytes) and
lost while a listener is disconnected, and a reconnecting *client* needs a replay from the
outbox anyway. So a notification is only a wake-up carrying a small envelope; each replica's
hub reads ``position > last seen`` itself. A lost connection or a lost notification costs
latency (the hub also polls every ``live_poll_interval_s``), never an event.

Tailing by position is sound because stream positions are given in commit order: mutations
insert their events without any lock, and the dispatcher numbers them (``stream_position``)
when it publishes them, holding the stream lock (an advisory transaction lock on PostgreSQL,
the write lock on SQLite) until that round commits. No round can commit a lower stream position
after a higher one became visible, and an event whose mutation commits late joins a later
round.

Modules: ``events`` (outbox rows as stream events, cursors, retention), ``brokers``,
``dispatcher``, ``hub`` (fan-out with bounded queues, subscribers indexed by project and
entity, frames written to waiting subscribers' sockets by the hub itself), ``renders`` (an
event's result computed once per selection and rights, shared by the subscribers alike),
``delivery`` (graphql-transport-ws ``next`` messages encoded once, WebSocket frames),
``connection`` (a WebSocket's or SSE
response's credential, re-checks and close), ``runtime`` (what the app's lifespan starts).
The GraphQL side is ``mlgraph.schema.subscriptions``; the WebSocket edge is
``mlgraph.app.websockets``.
"""
