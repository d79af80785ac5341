"""Domain rules for mutations, one module per domain: each mutation is a ``Command``.

How a mutation is built (``resolvers/projects.py`` + ``schema/mutations/projects.py`` are the
worked example):

* ``schema/mutations/<domain>.py``: ``<Verb><Noun>Input`` (every field documented),
  ``<Verb><Noun>Payload`` (the changed entity first, then ``userErrors``; subclass a per-entity
  ``@strawberry.type`` base), and a ``<Domain>Mutations`` class whose fields are one call:
  ``verb_noun = command(domain.VerbNoun, VerbNounInput, VerbNounPayload, description=...)``.
* ``resolvers/<domain>.py``: ``class VerbNoun(Command["VerbNounInput", Row])`` states the rule:
  its ``target`` (the row named by an input field, with the role it needs and whether it is
  locked), ``action``/``topic`` (audit action and outbox topic), ``creates`` for creates
  (idempotent replay by ``idempotencyKey``), ``check`` (input rules, all problems at once) and
  ``apply`` (the rule, returning the changed row). ``resolvers.commands`` documents the rest:
  the fetch, ``expectedRevision``, snapshots, audit, outbox, idempotency, and the hooks before
  the transaction and after the commit.
* Raise ``UserErrors`` for every expected failure: the transaction rolls back, nothing is
  written, no audit entry appears.
* Models with a ``revision`` column use SQLAlchemy's ``version_id_col``: a concurrent update
  fails at flush and the field answers CONFLICT.
"""
