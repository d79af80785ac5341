"""Issue 13, the front door, as a newcomer meets it: ``mlgraph serve`` on the embedded default,
GraphiQL and the dashboard in a real headless Chromium (tests/browser.py), nothing loaded from
anywhere but this machine. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mlgraph.app.pages import STATIC, dev_headers, operations
from mlgraph.settings import Settings
from tests.browser import Page, chromium, off_loopback
from tests.served import Served, mlgraph_serve

FRAUD = """{ project(slug: "fraud-detection") { id
  pipelines(first: 1) { nodes { id name } }
  alerts(first: 1, filter: {status: [FIRING]}) { nodes { id message } } } }"""
START = "mutation($p: ID!) { startPipelineRun(input: {pipelineId: $p}) { job { id } } }"
ACKNOWLEDGE = """mutation($a: ID!) { acknowledgeAlert(input: {alertId: $a}) {
  alert { status } userErrors { code } } }"""
QUERY = "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
RESULT = "document.querySelector('.result-window .CodeMirror').CodeMirror.getValue()"


@pytest.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    async with mlgraph_serve(tmp_path_factory.mktemp("front-door")) as s:
        yield s


async def click_tab(page: Page, title: str) -> None:
    await page.wait_for(
        f"[...document.querySelectorAll('.graphiql-tab-button')]"
        f".some(b => b.textContent.trim() === {title!r})"
    )
    await page.evaluate(
        f"[...document.querySelectorAll('.graphiql-tab-button')]"
        f".find(b => b.textContent.trim() === {title!r}).click()"
    )


async def test_graphiql_runs_the_tour_signed_in_offline_with_docs_and_a_subscription(
    served: Served,
) -> None:
    fraud = (await served.data(FRAUD))["project"]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{served.url}/graphql")
        # the docs pane is open and lists the schema's types (it fetched the schema signed in)
        await page.wait_for(
            "document.querySelector('.graphiql-doc-explorer')?.innerText.includes('ModelVersion')"
        )
        banner = await page.evaluate("document.getElementById('signed-in').innerText")
        assert "admin@example.com" in banner
        tabs = await page.evaluate(
            "[...document.querySelectorAll('.graphiql-tab-button')].map(b => b.textContent.trim())"
        )
        assert tabs[0] == "Tour"
        assert {"Dashboard", "DashboardPanels", "JobUpdates"} <= set(tabs)
        # the tour (first tab) runs as the demo admin
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        await page.wait_for(f"{RESULT}.includes('Fraud Detection')")
        assert '"errors"' not in await page.evaluate(RESULT)
        await page.screenshot("graphiql-tour")
        # a subscription over graphql-transport-ws shows an event of a run started meanwhile
        await click_tab(page, "JobUpdates")
        await page.wait_for(f"{QUERY}.startsWith('# Live job updates')")
        await asyncio.sleep(0.5)  # as a person would: GraphiQL takes the tab's operation name
        variables = await page.evaluate(
            "document.querySelector('.graphiql-editor-tool .CodeMirror').CodeMirror.getValue()"
        )
        assert fraud["id"] in variables
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        pipeline = fraud["pipelines"]["nodes"][0]
        for _ in range(10):  # until the subscription is in place
            await asyncio.sleep(0.5)
            await served.data(START, {"p": pipeline["id"]})
            if "jobUpdated" in await page.evaluate(RESULT):
                break
        await page.screenshot("graphiql-subscription")
        await page.wait_for(f"{RESULT}.includes('jobUpdated') && {RESULT}.includes('QUEUED')")
        assert pipeline["name"] in await page.evaluate(RESULT)
        await page.screenshot("graphiql-subscription")
        sockets = [u for u in page.requests if u.startswith("ws://")]
        assert sockets == [f"{served.url.replace('http', 'ws')}/graphql"]
        assert off_loopback(page.requests) == []


# Every request body the page's fetch() sends, kept in the page before its scripts run.
RECORD_BODIES = """window.sentBodies = [];
const send = window.fetch;
window.fetch = (input, init) => {
  window.sentBodies.push(String((init && init.body) || ""));
  return send(input, init);
};"""


async def test_graphiql_with_introspection_off_asks_for_no_schema_and_still_runs_the_tour(
    tmp_path: Path,
) -> None:
    async with mlgraph_serve(tmp_path, MLGRAPH_INTROSPECTION="false") as s:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_BODIES)
            await page.goto(f"{s.url}/graphql")
            await page.wait_for("!!document.querySelector('.graphiql-execute-button')")
            notice = await page.evaluate(
                "(e => e.hidden ? '' : e.innerText)(document.getElementById('introspection-off'))"
            )
            assert "Introspection is off" in notice
            await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
            await page.wait_for(f"{RESULT}.includes('Fraud Detection')")
            await page.screenshot("graphiql-introspection-off")
            bodies = await page.evaluate("window.sentBodies")
            assert any("Tour" in b for b in bodies)
            assert not [b for b in bodies if "__schema" in b]  # it would be refused
            # no schema error shown: GraphiQL was told there is none to load
            assert "Error fetching schema" not in await page.evaluate("document.body.innerText")


async def test_the_dashboard_shows_the_demo_and_a_mutation_in_its_live_feed_within_2_s(
    served: Served,
) -> None:
    fraud = (await served.data(FRAUD))["project"]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{served.url}/")
        await page.wait_for("document.getElementById('status').textContent === 'live'")
        slugs = await page.evaluate(
            "[...document.querySelectorAll('section.project')].map(s => s.dataset.slug)"
        )
        assert "fraud-detection" in slugs
        assert len(slugs) == 6
        shown = await page.evaluate("document.getElementById('projects').innerText")
        assert "Fraud Detection" in shown
        assert "traffic:" in shown
        assert "%" in shown
        # the drift charts draw: a line per series, with points, and the threshold lines
        points = await page.evaluate(
            "[...document.querySelectorAll('svg.chart polyline')].map(l => l.points.length)"
        )
        assert points
        assert all(n >= 1 for n in points)
        assert await page.evaluate("document.querySelectorAll('svg.chart line.threshold').length")
        assert await page.evaluate("document.querySelectorAll('#alerts li.alert').length")
        await page.screenshot("dashboard")
        # a mutation made now appears in the live feed within 2 s, and its run in the table
        pipeline = fraud["pipelines"]["nodes"][0]
        started = await served.data(START, {"p": pipeline["id"]})
        at = time.monotonic()
        await page.wait_for(
            "[...document.querySelectorAll('#feed li')]"
            f".some(li => li.textContent.includes('job: {pipeline['name']} QUEUED'))",
            within=2.0,
        )
        assert time.monotonic() - at < 2.0
        job = started["startPipelineRun"]["job"]["id"]
        await page.wait_for(f"!!document.querySelector('tr.run[data-job-id=\"{job}\"]')")
        alert = fraud["alerts"]["nodes"][0]
        acknowledged = await served.data(ACKNOWLEDGE, {"a": alert["id"]})
        assert acknowledged["acknowledgeAlert"]["userErrors"] == []
        await page.wait_for(
            "[...document.querySelectorAll('#feed li')]"
            ".some(li => li.textContent.includes('alert: ACKNOWLEDGED'))",
            within=2.0,
        )
        await page.screenshot("dashboard-live")
        assert off_loopback(page.requests) == []


CANDIDATES = """{ deployments(first: 50) { nodes { id name status
  firing: alerts(filter: {status: [FIRING]}) { totalCount }
  targets { version { id } } model { versions(first: 50) { nodes { id stage } } } } } }"""
START_ROLLOUT = """mutation($d: ID!, $v: ID!) { startRollout(input: {deploymentId: $d,
  canaryVersionId: $v, steps: [10, 50, 100], intervalSeconds: 3600,
  gateMetrics: [{metric: "error_rate", operator: GT, threshold: 0.05}]}) {
  rollout { id } userErrors { code } } }"""


async def test_the_dashboard_shows_a_rollouts_progress_and_gates(served: Served) -> None:
    deployments = (await served.data(CANDIDATES))["deployments"]["nodes"]
    d, v = next(  # an active deployment that no alert gates, and a version beside what it serves
        (d, v)
        for d in deployments
        if d["status"] == "ACTIVE" and d["firing"]["totalCount"] == 0
        for v in d["model"]["versions"]["nodes"]
        if v["stage"] in ("STAGING", "PRODUCTION")
        and v["id"] not in {t["version"]["id"] for t in d["targets"]}
    )
    started = (await served.data(START_ROLLOUT, {"d": d["id"], "v": v["id"]}))["startRollout"]
    assert started["userErrors"] == []
    rollout = started["rollout"]["id"]
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(f"{served.url}/")
        await page.wait_for(f"!!document.querySelector('.rollout[data-rollout-id=\"{rollout}\"]')")
        shown = await page.evaluate(
            f"document.querySelector('.rollout[data-rollout-id=\"{rollout}\"]').innerText"
        )
        assert "rollout RUNNING" in shown
        assert "10% (step 1/3: 10 \u2192 50 \u2192 100)" in shown
        assert "no FIRING alert \u2265 WARNING" in shown
        assert "error_rate not GT 0.05" in shown
        await page.screenshot("dashboard-rollout")
        assert off_loopback(page.requests) == []


async def test_the_pages_load_nothing_from_elsewhere(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        for path in ("/", "/graphql"):
            page = await client.get(path, headers={"accept": "text/html"})
            assert page.status_code == 200
            assert "https://" not in page.text
            assert "http://" not in page.text.replace("http://www.w3.org", "")
        # vendor files go out gzipped, or plain to a client that does not take gzip
        packed = await client.get("/static/vendor/react.production.min.js")
        assert packed.headers["content-encoding"] == "gzip"
        plain = await client.get(
            "/static/vendor/react.production.min.js", headers={"accept-encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert plain.text.startswith("/**")
        assert (await client.get("/static/../settings.py")).status_code == 404
        assert (await client.get("/static/vendor/manifest.json")).status_code == 404


async def test_without_the_embedded_default_no_token_is_in_the_pages(tmp_path: Path) -> None:
    async with mlgraph_serve(tmp_path, MLGRAPH_DEV_SIGN_IN="false") as s:
        async with httpx.AsyncClient(base_url=s.url) as client:
            for path in ("/", "/graphql"):
                page = await client.get(path, headers={"accept": "text/html"})
                assert '"devHeaders": null' in page.text
                assert "Bearer" not in page.text


@pytest.mark.parametrize(
    ("settings", "signed_in"),
    [
        ({}, True),
        ({"database_url": "postgresql+asyncpg://postgres@127.0.0.1/x"}, False),
        ({"oidc_issuer": "https://id.example.com"}, False),
        ({"local_issuer": False}, False),
        ({"host": "0.0.0.0"}, False),  # noqa: S104 - the setting under test, not a bind
        ({"dev_sign_in": False}, False),
    ],
)
def test_the_dev_sign_in_is_only_ever_the_embedded_defaults(
    settings: dict[str, object], signed_in: bool, tmp_path: Path
) -> None:
    config = Settings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    assert config.dev_sign_in_active is signed_in
    assert (dev_headers(config) is not None) is signed_in


def test_graphiql_tabs_are_the_operations_the_tour_first_subscriptions_last() -> None:
    names = [op.name for op in operations(Settings())]
    assert names[0] == "tour"
    assert {"dashboard", "dashboard_panels"} < set(names)
    live = [n for n in names if n.startswith("live/")]
    assert live
    assert names[-len(live) :] == live


def test_the_vendored_assets_are_the_packed_ones() -> None:
    """Each gzipped file under static/vendor/ is, unpacked, the file scripts/vendor-assets.sh
    took from its npm package (sha256 in manifest.json)."""
    vendor = STATIC / "vendor"
    manifest = json.loads((vendor / "manifest.json").read_text())
    assert set(manifest) == {p.name.removesuffix(".gz") for p in vendor.glob("*.gz")}
    for name, entry in manifest.items():
        data = gzip.decompress((vendor / f"{name}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
