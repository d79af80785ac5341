"""Which documents the compiled path answers: every operation document of `graphql/operations/`
and every query of the README's tour, or the reason it runs on the resolver path. A document
that stops compiling (a field given its own resolver, say) fails here by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgraph.auth.principal import Principal
from mlgraph.cli import main
from mlgraph.compiled import Fallback, Planner, Statement
from mlgraph.schema import build_schema
from tests.conftest import OPERATIONS
from tests.test_readme import READ_EXAMPLES

#: Every document, and the reason for those the resolver path answers (None: compiled).
EXPECTED: dict[str, str | None] = {
    "dashboard.graphql": None,
    "dashboard_panels.graphql": None,
    "tour.graphql": None,
    "rollouts.graphql": None,
    "live/alerts_fired.graphql": "subscriptions run on the resolver path",
    "live/deployment_events.graphql": "subscriptions run on the resolver path",
    "live/job_updates.graphql": "subscriptions run on the resolver path",
    "README tour 1": None,
    "README tour 2": None,
    "README tour 3": None,
}
ADMIN = Principal(id="coverage", display_name="coverage", platform_admin=True)


def documents() -> dict[str, str]:
    found = {
        str(path.relative_to(OPERATIONS)): path.read_text()
        for path in sorted(OPERATIONS.rglob("*.graphql"))
    }
    found |= {f"README tour {i + 1}": text for i, text in enumerate(READ_EXAMPLES)}
    return found


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(build_schema())


def test_every_document_is_listed() -> None:
    assert sorted(documents()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_document_compiles_or_says_why_not(planner: Planner, name: str) -> None:
    plan = planner.plan(documents()[name], None, None, ADMIN)
    if EXPECTED[name] is None:
        assert isinstance(plan, Statement), plan
        assert plan.sql.startswith("SELECT ")
    else:
        assert plan == Fallback(str(EXPECTED[name]))


OBJECT_STORE_FIELDS = """{ models(first: 2) { nodes {
  version(alias: "latest") { version artifacts { nodes {
    object { exists size etag contentType lastModified __typename } downloadUrl(expiresIn: 60) } } }
  deployments(first: 1) { nodes { driftMetrics(first: 2) { nodes { report } } } } } }
  projects(first: 1) { nodes { pipelines(first: 1) { nodes { runs { nodes { logsUrl } } } } } } }"""


def test_object_store_fields_and_version_by_alias_compile(planner: Planner) -> None:
    plan = planner.plan(OBJECT_STORE_FIELDS, None, None, ADMIN)
    assert isinstance(plan, Statement), plan
    kinds = [slot.kind for slot in plan.objects]
    assert kinds == ["stored_object", "download_url", "report", "logs_url"]
    stored = plan.objects[0]
    assert [key for key, _ in stored.selection] == [
        "exists",
        "size",
        "etag",
        "contentType",
        "lastModified",
        "__typename",
    ]
    assert plan.objects[1].expires_in == 60


def test_explain_names_what_still_falls_back(tmp_path: Path) -> None:
    document = tmp_path / "audit.graphql"
    document.write_text("{ auditEntries(first: 1) { nodes { entity { id } } } }")
    done = CliRunner().invoke(main, ["explain", str(document)])
    assert done.output == "plan: resolver\nreason: AuditEntry.entity is computed by a resolver\n"
