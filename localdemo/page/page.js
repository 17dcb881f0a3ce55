// The status page: polls GET /_demo/status and sends faults with POST /_demo/faults.
"use strict";

const POLL_MS = 1000;

function text(id, value) {
  const node = document.getElementById(id);
  if (node) node.textContent = value;
}

function time(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}

function say(message, failed) {
  const node = document.getElementById("message");
  node.textContent = message;
  node.className = failed ? "bad" : "";
}

function renderRegion(role, region, onetCalled) {
  const card = document.getElementById(`card-${role}`);
  const health = region.health || {};
  const healthNode = document.getElementById(`${role}-health`);
  healthNode.textContent = health.healthy ? "healthy" : "unhealthy";
  healthNode.className = `health ${health.healthy ? "good" : "bad"}`;
  const last = health.lastStatus || health.lastError || "…";
  card.querySelector(".detail").textContent =
    `(last check: ${last}, ${health.lastLatencyMs ?? "?"} ms; ` +
    `${health.consecutiveFailures} failed / ${health.consecutiveSuccesses} passed in a row)`;
  card.querySelector(".region").textContent = region.awsRegion || "";
  const process = region.fault === "up"
    ? `running (pid ${region.pid})`
    : region.fault === "hung" ? `hung (pid ${region.pid}, stopped)` : "killed";
  text(`${role}-fault`, process);
  const idle = onetCalled ? "no O*NET call yet" : "not used (no O*NET credentials)";
  const breaker = region.stateKnown ? region.breaker || idle : "unknown (region not answering)";
  text(`${role}-breaker`, breaker);
}

function renderRecent(recent) {
  const body = document.querySelector("#recent tbody");
  body.replaceChildren(...recent.slice(0, 25).map((item) => {
    const row = document.createElement("tr");
    const cells = [
      time(item.at), `${item.method} ${item.path}`, item.status, item.source,
      item.dataSource || "", item.ms, item.cors ? "yes" : "no",
    ];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.textContent = String(value);
      row.appendChild(cell);
    }
    row.className = item.status >= 500 ? "bad" : "";
    return row;
  }));
}

function render(status) {
  const serving = document.getElementById("serving");
  serving.textContent = status.serving;
  serving.className = `badge ${status.serving}`;
  text("interval", status.edge.healthInterval);
  text("threshold", status.edge.healthThreshold);
  text("budget", status.edge.failoverBudgetSeconds);
  for (const role of ["primary", "backup"]) {
    renderRegion(role, status.regions[role], status.onet.calledByRegions);
  }
  text("onet-mode", status.onet.mode + (status.onet.calledByRegions ? "" : " (not called)"));
  text("onet-fault", status.onet.fault);
  text("table-fault", status.table.fault);
  text("force", status.forceFailover ? "on" : "off");
  text("totals", `${status.edge.requests} through the edge, ` +
    `${status.edge.withoutCors} without CORS`);
  const events = document.getElementById("events");
  events.replaceChildren(...status.events.map((event) => {
    const item = document.createElement("li");
    item.textContent = `${time(event.at)} ${event.message}`;
    return item;
  }));
  renderRecent(status.recent);
}

async function refresh() {
  try {
    const response = await fetch("/_demo/status", { cache: "no-store" });
    render(await response.json());
  } catch (error) {
    say(`The local environment does not answer: ${error}`, true);
  }
}

async function setFaults(faults) {
  const response = await fetch("/_demo/faults", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(faults),
  });
  const body = await response.json();
  if (!response.ok) {
    say(body.error ? body.error.message : `failed: ${response.status}`, true);
    return;
  }
  say(`Set ${JSON.stringify(faults)}`, false);
  render(body);
}

async function tryApi(path, init) {
  const started = performance.now();
  const output = document.getElementById("try-result");
  try {
    const response = await fetch(path, init);
    const body = await response.text();
    const ms = Math.round(performance.now() - started);
    output.textContent =
      `${response.status} in ${ms} ms, answered by ${response.headers.get("X-Vetroi-Source")}` +
      ` (data: ${response.headers.get("X-Data-Source") || "-"})\n${body.slice(0, 600)}`;
  } catch (error) {
    output.textContent = `failed: ${error}`;
  }
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-fault]")) {
    button.addEventListener("click", () => {
      const raw = button.dataset.value;
      const value = raw === "true" ? true : raw === "false" ? false : raw;
      setFaults({ [button.dataset.fault]: value });
    });
  }
  document.getElementById("clear-all").addEventListener("click", () =>
    setFaults({ primary: "up", backup: "up", onet: "up", table: "up", forceFailover: false }));
  document.getElementById("try-career").addEventListener("click", () =>
    tryApi("/career/11-1011.00"));
  document.getElementById("try-recommend").addEventListener("click", () =>
    tryApi("/recommend", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ branch: "army", code: "11B" }),
    }));
  refresh();
  setInterval(refresh, POLL_MS);
});
