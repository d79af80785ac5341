// GraphiQL as mlgraph serves it: every asset from this server, the operations of
// graphql/operations/ as tabs, and (embedded default only) signed in as the demo admin.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("mlgraph-config").textContent);
  const url = new URL("/graphql", window.location.href).toString();
  const wsUrl = url.replace(/^http/, "ws");
  const devHeaders = config.devHeaders || {};
  const pretty = (value) => JSON.stringify(value, null, 2);
  let tabHeaders = {};

  function parseHeaders(text) {
    try {
      const value = JSON.parse(text || "{}");
      return value && typeof value === "object" ? value : {};
    } catch (e) {
      return {};
    }
  }

  if (config.devHeaders) {
    const banner = document.getElementById("signed-in");
    banner.hidden = false;
    banner.textContent =
      "Signed in as " + config.devUser + " (platform admin) with a dev-only token: the " +
      "embedded default's local issuer. It is in the Headers tab and sent when a tab names " +
      "no Authorization header; MLGRAPH_DEV_SIGN_IN=false turns it off.";
  }

  // With introspection off the server refuses __schema: no schema is asked for (schema: null)
  // and the docs pane stays shut, instead of GraphiQL showing a schema error.
  if (!config.introspection) document.getElementById("introspection-off").hidden = false;

  // HTTP requests: the dev header under the tab's own headers. WebSocket (graphql-transport-ws):
  // the same headers as the connection_init payload, read when each connection opens.
  const fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: wsUrl,
    headers: devHeaders,
    wsConnectionParams: () => Object.assign({}, devHeaders, tabHeaders),
  });

  function tabs(projectId) {
    return config.operations.map((op) => ({
      query: op.query,
      variables: op.variables.includes("projectId") && projectId
        ? pretty({ projectId: projectId })
        : op.variables.length ? pretty(Object.fromEntries(op.variables.map((v) => [v, null]))) : undefined,
      headers: config.devHeaders ? pretty(config.devHeaders) : undefined,
    }));
  }

  async function demoProjectId() {
    if (!config.devHeaders) return null;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: Object.assign({ "content-type": "application/json" }, devHeaders),
        body: JSON.stringify({ query: "{ project(slug: \"fraud-detection\") { id } }" }),
      });
      const body = await response.json();
      return body.data && body.data.project ? body.data.project.id : null;
    } catch (e) {
      return null;
    }
  }

  demoProjectId().then((projectId) => {
    const root = ReactDOM.createRoot(document.getElementById("graphiql"));
    root.render(
      React.createElement(GraphiQL, {
        fetcher: fetcher,
        defaultTabs: tabs(projectId),
        defaultHeaders: config.devHeaders ? pretty(config.devHeaders) : undefined,
        defaultEditorToolsVisibility: true,
        visiblePlugin: config.introspection ? GraphiQL.React.DOC_EXPLORER_PLUGIN : undefined,
        ...(config.introspection ? {} : { schema: null }),
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
        inputValueDeprecation: true,
        onEditHeaders: (text) => { tabHeaders = parseHeaders(text); },
        onTabChange: (state) => {
          const tab = state.tabs[state.activeTabIndex];
          tabHeaders = parseHeaders(tab && tab.headers);
        },
      }),
    );
  });
})();
