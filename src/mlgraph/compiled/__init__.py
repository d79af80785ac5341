"""The compiled read path: a whole read operation planned into one PostgreSQL statement that
returns the response's ``data`` as JSON text, which the server sends without walking it.

* ``fields``: what each schema field is, derived from ``storage.graph`` (or why it is not
  compilable).
* ``planner``: the plan cache (per document and operation name) and ``Planner.plan()``.
* ``builder``: the SQL, built per request from the collected fields and coerced arguments.
* ``sqltext``: bound parameters and the JSON formatting expressions.

Its HTTP edge (running a plan, the ``x-mlgraph-plan`` header) is ``mlgraph.app.compiled``.

It answers only when every selected field is compilable and every argument is one the resolver
path accepts; otherwise the resolver path runs, unchanged, and reports any error itself.
"""

from mlgraph.compiled.planner import Fallback, Planner, Statement

__all__ = ["Fallback", "Planner", "Statement"]
