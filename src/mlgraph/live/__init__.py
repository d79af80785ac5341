"""Live updates: the outbox as an ordered log, a dispatcher, brokers, and a per-replica hub.

```
mutation ─► unit of work ─► outbox row (position = commit order, see below)
                 │ after commit: wake the local dispatcher and the local hub
                 ▼
           Dispatcher ── marks dispatched_at, publishes {first,last,count} ──► Broker
           (every replica;                                in-process | PostgreSQL NOTIFY
            FOR UPDATE SKIP LOCKED)                                       │ wake-up
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

Tailing by position is sound because positions are assigned in commit order: every unit of
work that writes outbox rows holds the audit chain's lock (an advisory transaction lock on
PostgreSQL, the write lock on SQLite) from before its outbox insert until its commit, so no
transaction can commit a lower position after a higher one became visible.

Modules: ``events`` (outbox rows as stream events, cursors, retention), ``brokers``,
``dispatcher``, ``hub`` (fan-out with bounded queues, subscribers indexed by project and
entity), ``renders`` (an event's result computed once per selection and rights, shared by the
subscribers alike), ``connection`` (a WebSocket's or SSE
response's credential, re-checks and close), ``runtime`` (what the app's lifespan starts).
The GraphQL side is ``mlgraph.schema.subscriptions``; the WebSocket edge is
``mlgraph.app.websockets``.
"""
