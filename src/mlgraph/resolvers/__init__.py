"""Domain rules for mutations, one module per domain.

How a mutation is built (``resolvers/projects.py`` + ``schema/mutations/projects.py`` are the
worked example):

* ``schema/mutations/<domain>.py``: ``<Verb><Noun>Input`` (every field documented),
  ``<Verb><Noun>Payload`` (the changed entity + ``userErrors``; subclass a per-entity
  ``@strawberry.type`` base), and a ``<Domain>Mutations`` class whose fields are one line:
  ``return await mutate(info, Payload, "field", "Type", lambda: verb_noun(info.context, input))``.
* ``resolvers/<domain>.py``: ``async def verb_noun(ctx, input) -> uuid``: validate with
  ``Checks`` (all problems at once), then ``async with ctx.uow() as tx:`` fetch rows with
  ``fetch`` (NOT_FOUND for unknown or invisible ids), ``check_revision`` for updates, change
  rows, ``tx.audit(...)`` with before/after ``snapshot``s and ``tx.emit(...)`` an outbox event.
  Raise ``UserErrors`` for every expected failure: the transaction rolls back, nothing is
  written, no audit entry appears. Return the id of the entity the payload shows.
* Create mutations take ``idempotencyKey`` (or the ``Idempotency-Key`` header): ``replay``
  first, ``remember`` after creating.
* Models with a ``revision`` column use SQLAlchemy's ``version_id_col``: a concurrent update
  fails at flush and ``mutate`` reports CONFLICT.
"""
