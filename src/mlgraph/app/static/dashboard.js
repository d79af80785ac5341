// The dashboard at `/`: graphql/operations/dashboard.graphql, dashboard_panels.graphql and
// rollouts.graphql (each deployment's current rollout: progress and gates) over HTTP, then jobUpdated, alertFired and deploymentEvents over graphql-transport-ws for the live
// panels. Only the public GraphQL API; nothing from another origin.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("mlgraph-config").textContent);
  const ops = Object.fromEntries(config.operations.map((op) => [op.name, op.query]));
  const endpoint = new URL("/graphql", window.location.href).toString();
  const FEED_MAX = 100;
  const SVG = "http://www.w3.org/2000/svg";
  let headers = config.devHeaders;
  const runs = new Map(); // job id -> its row
  let refreshTimer = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c));
    return node;
  }

  function status(text, isError) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  async function graphql(query, variables) {
    const response = await fetch(endpoint, {
      method: "POST",
      headers: Object.assign({ "content-type": "application/json" }, headers),
      body: JSON.stringify({ query: query, variables: variables || {} }),
    });
    const body = await response.json();
    if (body.errors) throw new Error(body.errors[0].message);
    return body.data;
  }

  // --- rendering ---------------------------------------------------------------------------
  function progressBar(value) {
    const bar = el("span", { class: "bar" }, el("span"));
    bar.firstChild.style.width = Math.round(100 * value) + "%";
    return bar;
  }

  function runCells(row, status, progress) {
    row.replaceChildren(
      row.firstChild,
      el("td", { class: status + " status" }, status),
      el("td", {}, progressBar(progress), " " + Math.round(100 * progress) + "%"),
    );
    row.dataset.status = status;
  }

  function pipelinesTable(project) {
    const table = el("table", { class: "pipelines" },
      el("tr", {}, el("th", {}, "pipeline · run"), el("th", {}, "status"), el("th", {}, "progress")));
    for (const pipeline of project.pipelines.nodes) {
      const latest = pipeline.runs.nodes;
      if (!latest.length) table.append(el("tr", {}, el("td", {}, pipeline.name), el("td", {}, "no runs"), el("td")));
      latest.forEach((run, i) => {
        const row = el("tr", { class: "run", "data-job-id": run.id },
          el("td", {}, i === 0 ? pipeline.name : "\u00a0\u00a0" + pipeline.name + " (earlier)"));
        runCells(row, run.status, run.progress);
        runs.set(run.id, row);
        table.append(row);
      });
    }
    return table;
  }

  function chart(metrics) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 900 140");
    svg.setAttribute("preserveAspectRatio", "none");
    if (!metrics.length) return svg;
    const times = metrics.map((m) => Date.parse(m.windowEnd));
    const t0 = Math.min(...times), t1 = Math.max(...times);
    const top = Math.max(...metrics.map((m) => Math.max(m.score, m.threshold))) * 1.15 || 1;
    const x = (t) => 30 + (t1 === t0 ? 435 : (860 * (t - t0)) / (t1 - t0));
    const y = (v) => 130 - (120 * v) / top;
    const series = new Map();
    for (const m of metrics) {
      const key = m.kind + " " + m.metric + " · " + m.feature;
      if (!series.has(key)) series.set(key, []);
      series.get(key).push(m);
    }
    const colours = ["#3e7bfa", "#1b873f", "#b7791f", "#7c3aed", "#0e7490"];
    const thresholds = new Set(metrics.map((m) => m.threshold));
    for (const value of thresholds) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "threshold");
      line.setAttribute("x1", 30); line.setAttribute("x2", 900);
      line.setAttribute("y1", y(value)); line.setAttribute("y2", y(value));
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 0); label.setAttribute("y", y(value) + 4);
      label.setAttribute("font-size", "10"); label.textContent = String(value);
      svg.append(line, label);
    }
    let i = 0;
    for (const [key, points] of series) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", colours[i++ % colours.length]);
      line.setAttribute("stroke-width", "1.5");
      line.setAttribute("data-series", key);
      line.setAttribute("points", points.map((m) => x(Date.parse(m.windowEnd)) + "," + y(m.score)).join(" "));
      const title = document.createElementNS(SVG, "title");
      title.textContent = key;
      line.append(title);
      svg.append(line);
    }
    return svg;
  }

  function rolloutLine(r) {
    const gates = [];
    if (r.gateSeverity) gates.push("no FIRING alert \u2265 " + r.gateSeverity);
    for (const g of r.gateMetrics || []) gates.push(g.metric + " not " + g.operator + " " + g.threshold);
    const next = r.nextStepAt ? " · next step " + new Date(r.nextStepAt).toLocaleTimeString() : "";
    return el("div", { class: "rollout " + r.status, "data-rollout-id": r.id },
      "rollout " + r.status + ": " + (r.canary ? r.canary.version : "?") + " ",
      progressBar(r.canaryPercent / 100),
      " " + r.canaryPercent + "% (step " + (r.step + 1) + "/" + r.steps.length + ": " + r.steps.join(" \u2192 ") + ")" + next,
      el("small", {}, " gates: " + (gates.join(", ") || "none") + (r.reason ? " · " + r.reason : "")));
  }

  function deploymentsPanel(panel, rollouts) {
    const box = el("div", { class: "deployments" });
    for (const d of panel.deployments.nodes) {
      const split = d.targets
        .map((t) => (t.version ? t.version.model.name + " " + t.version.version : "?") + " " + t.trafficPercent + "%")
        .join(" · ");
      const series = d.driftMetrics.nodes;
      box.append(
        el("div", { class: "deployment", "data-deployment-id": d.id },
          el("h3", {}, d.name + " ", el("small", {}, d.environment + " · " + d.status + " · " + d.strategy)),
          el("div", { class: "traffic" }, "traffic: " + (split || "none")),
          rollouts.has(d.id) ? rolloutLine(rollouts.get(d.id)) : "",
          series.length ? chart(series) : el("div", { class: "no-drift" }, "no drift metrics yet")),
      );
    }
    return box;
  }

  function renderAlerts(panels) {
    const list = document.getElementById("alerts");
    list.replaceChildren();
    for (const p of panels) {
      for (const a of p.alerts.nodes) {
        list.append(el("li", { class: "alert", "data-alert-id": a.id },
          el("span", { class: a.status }, a.severity + " " + a.status), " ",
          a.message));
      }
    }
    if (!list.children.length) list.append(el("li", {}, "none"));
  }

  function render(dashboard, panels, rollouts) {
    runs.clear();
    const byId = new Map(panels.projects.nodes.map((p) => [p.id, p]));
    const current = new Map(); // deployment id -> its current rollout
    for (const p of rollouts ? rollouts.projects.nodes : []) {
      for (const d of p.deployments.nodes) if (d.rollouts.nodes.length) current.set(d.id, d.rollouts.nodes[0]);
    }
    const root = document.getElementById("projects");
    root.replaceChildren();
    for (const project of dashboard.projects.nodes) {
      const panel = byId.get(project.id) || { deployments: { nodes: [] }, alerts: { nodes: [] } };
      root.append(el("section", { class: "project", "data-slug": project.slug },
        el("h2", {}, project.name),
        pipelinesTable(project),
        deploymentsPanel(panel, current)));
    }
    renderAlerts(panels.projects.nodes);
    return dashboard.projects.nodes.map((p) => p.id);
  }

  async function load() {
    const [dashboard, panels, rollouts] = await Promise.all([
      graphql(ops.dashboard),
      graphql(ops.dashboard_panels),
      ops.rollouts ? graphql(ops.rollouts) : null,
    ]);
    return render(dashboard, panels, rollouts);
  }

  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => load().catch((e) => status(e.message, true)), 300);
  }

  // --- live: graphql-transport-ws ----------------------------------------------------------
  function feed(kind, text, when) {
    const list = document.getElementById("feed");
    const time = new Date(when).toLocaleTimeString();
    list.prepend(el("li", { class: "event " + kind }, el("time", {}, time), kind + ": " + text));
    while (list.children.length > FEED_MAX) list.lastChild.remove();
  }

  const handlers = {
    jobUpdated(u) {
      const job = u.job;
      const name = job && job.pipeline ? job.pipeline.name : "job";
      feed("job", name + " " + u.status + " " + Math.round(100 * u.progress) + "%", u.occurredAt);
      const row = job && runs.get(job.id);
      if (row) runCells(row, u.status, u.progress); else refreshSoon(); // a new run
    },
    alertFired(u) {
      const a = u.alert || {};
      feed("alert", u.status + " " + (a.message || "") + (a.deployment ? " (" + a.deployment.name + ")" : ""), u.occurredAt);
      refreshSoon();
    },
    deploymentEvents(u) {
      const d = u.deployment ? u.deployment.name : "deployment";
      feed("deployment", d + " " + u.kind + (u.event ? ": " + u.event.message : ""), u.occurredAt);
      refreshSoon();
    },
  };

  const LIVE = {
    jobUpdated: "subscription($p: ID!) { jobUpdated(projectId: $p) { occurredAt status progress job { id pipeline { name } } } }",
    alertFired: "subscription($p: ID!) { alertFired(projectId: $p) { occurredAt status alert { message deployment { name } } } }",
    deploymentEvents: "subscription($p: ID!) { deploymentEvents(projectId: $p) { occurredAt kind deployment { name } event { message } } }",
  };

  function initPayload() {
    if (headers && headers["X-Api-Key"]) return { apiKey: headers["X-Api-Key"] };
    return headers || {};
  }

  function connect(projectIds) {
    const ws = new WebSocket(endpoint.replace(/^http/, "ws"), "graphql-transport-ws");
    ws.onopen = () => ws.send(JSON.stringify({ type: "connection_init", payload: initPayload() }));
    ws.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === "connection_ack") {
        let id = 0;
        for (const p of projectIds) {
          for (const field of Object.keys(LIVE)) {
            ws.send(JSON.stringify({ id: field + ":" + ++id, type: "subscribe", payload: { query: LIVE[field], variables: { p: p } } }));
          }
        }
        status("live");
      } else if (msg.type === "next" && msg.payload.data) {
        const field = Object.keys(msg.payload.data)[0];
        handlers[field](msg.payload.data[field]);
      } else if (msg.type === "ping") {
        ws.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "error" || (msg.type === "next" && msg.payload.errors)) {
        status("subscription refused: " + JSON.stringify(msg.payload), true);
      }
    };
    ws.onclose = (event) => {
      status("live connection closed (" + event.code + "); reconnecting…", true);
      setTimeout(() => connect(projectIds), 2000);
    };
  }

  function live(projectIds) {
    const perConnection = Math.max(1, Math.floor(config.maxSubscriptions / 3));
    for (let i = 0; i < projectIds.length; i += perConnection) connect(projectIds.slice(i, i + perConnection));
  }

  async function start() {
    if (!ops.dashboard || !ops.dashboard_panels) {
      status("the dashboard operations are missing: set MLGRAPH_OPERATIONS_DIR", true);
      return;
    }
    try {
      live(await load());
    } catch (e) {
      status(e.message, true);
      if (!config.devHeaders) askForCredentials();
    }
  }

  function askForCredentials() {
    const form = document.getElementById("sign-in");
    form.hidden = false;
    form.onsubmit = (event) => {
      event.preventDefault();
      const value = form.credential.value.trim();
      headers = value.startsWith("mlg_") ? { "X-Api-Key": value } : { Authorization: "Bearer " + value };
      sessionStorage.setItem("mlgraph:headers", JSON.stringify(headers));
      form.hidden = true;
      start();
    };
  }

  if (config.devHeaders) {
    document.getElementById("whoami").textContent = "signed in as " + config.devUser + " (dev-only token, embedded default)";
  } else {
    const saved = sessionStorage.getItem("mlgraph:headers");
    headers = saved ? JSON.parse(saved) : null;
  }
  if (headers) start(); else askForCredentials();
})();
