"""Persisted queries: Automatic Persisted Queries, and trusted documents.

* **APQ** (Apollo's protocol). A request may carry ``extensions.persistedQuery`` =
  ``{"version": 1, "sha256Hash": H}``. With ``query`` too, the server checks that ``H`` is the
  SHA-256 of the text and remembers it (per process, an LRU of ``CACHE_SIZE``); without it, the
  server runs the text it remembers, or answers ``PERSISTED_QUERY_NOT_FOUND`` (message
  ``PersistedQueryNotFound``), on which clients send the text once. A query over GET then
  fits in a short, cacheable URL.
* **Trusted documents.** With ``MLGRAPH_TRUSTED_DOCUMENTS`` naming a manifest (``{hash:
  document}``, written from ``graphql/operations/`` by ``mlgraph documents``), only those
  documents run, on every transport: by hash alone, by their exact text, or as graphql-core
  prints them. Anything else is
  refused with ``PERSISTED_QUERY_NOT_IN_LIST`` before validation; platform admins are let
  through when ``MLGRAPH_TRUSTED_DOCUMENTS_ADMIN_BYPASS`` is on. APQ does not add documents in
  this mode.

A persisted document reaches the same pipeline as any other, compiled path included: the plan
cache is keyed by the document's text, which its hash stands for one to one.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from graphql import DocumentNode, GraphQLError, parse, print_ast
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData

from mlgraph.errors import BadUserInput, NotInList, PersistedQueryNotFound

CACHE_SIZE = 1000
OPERATIONS = Path("graphql/operations")
MANIFEST = Path("graphql/trusted-documents.json")


def sha256(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def manifest_of(operations: Path = OPERATIONS) -> dict[str, str]:
    """The trusted-documents manifest of every ``.graphql`` file under ``operations``."""
    documents = (p.read_text() for p in sorted(operations.rglob("*.graphql")))
    return {sha256(text): text for text in documents}


@cache
def load_manifest(path: Path) -> dict[str, str]:
    found = json.loads(path.read_text())
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and sha256(v) == k for k, v in found.items()
    ):
        raise ValueError(f"{path} is not a trusted-documents manifest ({{sha256: document}})")
    return found


class PersistedQueries:
    """The APQ store of one process, and the trusted manifest if there is one."""

    def __init__(self, manifest: dict[str, str] | None) -> None:
        self.manifest = manifest
        self._known: OrderedDict[str, str] = OrderedDict()

    def resolve(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """``data`` with the text its hash stands for; raises an ``MlgraphError`` if none."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if persisted is None:
            return data
        wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(wanted, str) or persisted.get("version") != 1:
            raise BadUserInput(
                "extensions.persistedQuery needs version 1 and a sha256Hash",
                field="extensions.persistedQuery",
            )
        if isinstance(data.query, str):
            if sha256(data.query) != wanted:
                raise BadUserInput(
                    "provided sha256Hash does not match the query",
                    field="extensions.persistedQuery.sha256Hash",
                )
            if self.manifest is None:
                self._remember(wanted, data.query)
            return data
        text = self.manifest.get(wanted) if self.manifest is not None else self._recall(wanted)
        if text is None:
            raise PersistedQueryNotFound("PersistedQueryNotFound")
        return replace(data, query=text)

    def _remember(self, key: str, text: str) -> None:
        self._known[key] = text
        self._known.move_to_end(key)
        if len(self._known) > CACHE_SIZE:
            self._known.popitem(last=False)

    def _recall(self, key: str) -> str | None:
        text = self._known.get(key)
        if text is not None:
            self._known.move_to_end(key)
        return text


class TrustedDocuments(SchemaExtension):
    """Refuse any document outside the manifest, before validation, on every transport."""

    def __init__(self, manifest: dict[str, str], admin_bypass: bool) -> None:
        self.manifest, self.admin_bypass = manifest, admin_bypass
        self.printed = _printed(tuple(manifest.values()))

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        principal: Any = getattr(ec.context, "principal", None)
        bypass = self.admin_bypass and bool(getattr(principal, "platform_admin", False))
        if not bypass and not self._trusted(ec.query, ec.graphql_document):
            refused = NotInList(
                "only trusted documents run on this server (see `mlgraph documents`)"
            )
            error = GraphQLError(refused.message, original_error=refused)
            ec.pre_execution_errors = [*(ec.pre_execution_errors or []), error]
        yield

    def _trusted(self, query: str | None, document: DocumentNode | None) -> bool:
        """The exact text, or the same document printed (clients such as gql send the
        document as graphql-core prints it, without comments)."""
        if query is not None and sha256(query) in self.manifest:
            return True
        return document is not None and print_ast(document) in self.printed


@cache
def _printed(documents: tuple[str, ...]) -> frozenset[str]:
    return frozenset(print_ast(parse(text)) for text in documents)
