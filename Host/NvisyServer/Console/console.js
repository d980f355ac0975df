// The nvisy console: plain JavaScript over the public REST API, with the same bearer tokens as
// any client. Run events are read with fetch streaming because EventSource cannot send an
// Authorization header. No inline scripts or styles: the page works under a strict CSP.
"use strict";

const state = { token: sessionStorage.getItem("nvisy.token"), workspace: null, follow: null, rates: [] };
const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = el("tr", null, className);
  for (const cell of cells) {
    const td = el("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell === undefined || cell === null ? "-" : String(cell);
    tr.appendChild(td);
  }
  return tr;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// One line for an RFC 9457 problem, with its field pointers.
function problemText(status, body) {
  let text = status + " " + (body && body.title ? body.title : "error");
  if (body && body.detail) text += ": " + body.detail;
  if (body && Array.isArray(body.errors) && body.errors.length) {
    text += " (" + body.errors.map((e) => (e.pointer ? e.pointer + ": " : "") + e.message).join("; ") + ")";
  }
  return text;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/v1/auth/login") signOut();
    throw new Error(problemText(response.status, json));
  }
  return json;
}

function signOut() {
  state.token = null;
  sessionStorage.removeItem("nvisy.token");
  render();
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    const answer = await api("POST", "/api/v1/auth/login", { email: form.get("email"), password: form.get("password") });
    state.token = answer.token;
    sessionStorage.setItem("nvisy.token", answer.token);
    showError("");
    await render();
  } catch (error) {
    showError(error.message);
  }
}

async function render() {
  const signedIn = Boolean(state.token);
  $("login").hidden = signedIn;
  $("tabs").hidden = !signedIn;
  $("logout").hidden = !signedIn;
  $("workspace-picker").hidden = !signedIn;
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = true;
  if (!signedIn) return;
  try {
    const page = await api("GET", "/api/v1/workspaces?limit=100");
    const select = $("workspace");
    select.replaceChildren(...page.items.map((w) => { const o = el("option", w.name); o.value = w.id; return o; }));
    state.workspace = state.workspace && page.items.some((w) => w.id === state.workspace) ? state.workspace : (page.items[0] || {}).id;
    if (state.workspace) select.value = state.workspace;
    await openTab(document.querySelector("nav button.active").dataset.tab);
  } catch (error) {
    showError(error.message);
  }
}

async function openTab(name) {
  for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.tab === name);
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== name;
  showError("");
  try {
    if (name === "pipelines") await loadPipelines();
    if (name === "runs") await loadRuns();
    if (name === "plugins") await loadPlugins();
    if (name === "webhooks") await loadWebhooks();
  } catch (error) {
    showError(error.message);
  }
}

async function loadPipelines() {
  const rows = $("pipeline-rows");
  rows.replaceChildren();
  if (!state.workspace) return;
  const page = await api("GET", "/api/v1/workspaces/" + state.workspace + "/pipelines?limit=100");
  for (const p of page.items) {
    const button = el("button", "Run");
    button.addEventListener("click", () => startRun(p.id));
    rows.appendChild(row([p.name, el("span", p.status, "status-" + p.status), p.updatedAt, button]));
  }
}

async function startRun(pipelineId) {
  try {
    const run = await api("POST", "/api/v1/pipelines/" + pipelineId + "/runs");
    await openTab("runs");
    follow(run.id);
  } catch (error) {
    showError(error.message);
  }
}

async function loadRuns() {
  const rows = $("run-rows");
  rows.replaceChildren();
  if (!state.workspace) return;
  const page = await api("GET", "/api/v1/workspaces/" + state.workspace + "/runs?limit=50");
  for (const r of page.items) {
    const tr = row([r.id, r.pipelineName, el("span", r.status, "status-" + r.status), r.read, r.written, r.failed, r.createdAt], "clickable");
    tr.addEventListener("click", () => follow(r.id));
    rows.appendChild(tr);
  }
}

// Follows a run's SSE stream: progress table, totals and the throughput chart.
async function follow(runId) {
  if (state.follow) state.follow.abort();
  const controller = new AbortController();
  state.follow = controller;
  state.rates = [];
  $("live").hidden = false;
  $("live-id").textContent = runId;
  $("live-error").hidden = true;
  $("run-errors").hidden = true;
  try {
    const response = await fetch("/api/v1/runs/" + runId + "/events", {
      headers: { Authorization: "Bearer " + state.token, Accept: "text/event-stream" }, signal: controller.signal,
    });
    if (!response.ok) throw new Error(problemText(response.status, await response.json().catch(() => null)));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) showRun(name, JSON.parse(data.join("\n")));
      }
    }
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message);
  }
  if (state.follow === controller) {
    state.follow = null;
    await loadRuns().catch(() => {});
  }
}

function showRun(event, run) {
  $("live-status").textContent = run.status;
  $("live-status").className = "status-" + run.status;
  const elapsed = run.elapsedSeconds !== undefined ? run.elapsedSeconds.toFixed(1) + " s" : "-";
  $("live-totals").textContent = "read " + run.read + " · written " + run.written + " · failed " + run.failed +
    " · " + (run.itemsPerSecond || 0).toFixed(1) + " items/s · elapsed " + elapsed;
  $("node-rows").replaceChildren(...run.nodes.map((n) => row([n.nodeId, n.kind, n.read, n.written, n.failed, n.itemsPerSecond.toFixed(1)])));
  if (event === "progress") state.rates.push(run.itemsPerSecond || 0);
  drawChart();
  if (run.error) {
    $("live-error").textContent = "error (" + run.error.retry + "): " + run.error.message;
    $("live-error").hidden = false;
  }
  if (event === "end" && run.failed > 0) loadRunErrors(run.id);
}

async function loadRunErrors(runId) {
  const page = await api("GET", "/api/v1/runs/" + runId + "/errors?limit=100");
  const table = $("run-errors");
  table.tBodies[0].replaceChildren(...page.items.map((e) => row([e.nodeId, e.itemToken, e.retry, e.message])));
  table.hidden = page.items.length === 0;
}

function drawChart() {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  const rates = state.rates.slice(-120);
  const max = Math.max(1, ...rates);
  ctx.fillStyle = "#65707c";
  ctx.font = "11px sans-serif";
  ctx.fillText(max.toFixed(0) + " items/s", 4, 12);
  ctx.strokeStyle = "#d9dee3";
  ctx.beginPath(); ctx.moveTo(pad, h - pad); ctx.lineTo(w - 4, h - pad); ctx.stroke();
  if (rates.length < 2) return;
  ctx.strokeStyle = "#2b6cb0";
  ctx.lineWidth = 2;
  ctx.beginPath();
  rates.forEach((r, i) => {
    const x = pad + (i / (rates.length - 1)) * (w - pad - 4);
    const y = h - pad - (r / max) * (h - pad - 16);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

async function loadPlugins() {
  const page = await api("GET", "/api/v1/plugins");
  const list = $("plugin-list");
  list.replaceChildren();
  for (const p of page.items) {
    const card = el("div", null, "card");
    const title = el("h3", p.name + " ");
    title.appendChild(el("span", p.status, "status-" + p.status));
    card.appendChild(title);
    card.appendChild(el("p", (p.runtime || "-") + " · version " + (p.version || "-") + " · " + p.manifestPath));
    if (p.error) card.appendChild(el("p", p.error, "error"));
    for (const provider of p.providers || []) {
      const details = el("details");
      details.appendChild(el("summary", provider.id + " — " + (provider.kinds || []).join(", ") + " · " + provider.dataType));
      if (provider.description) details.appendChild(el("p", provider.description));
      for (const key of ["configSchema", "credentialsSchema"]) {
        if (provider[key]) {
          details.appendChild(el("h4", key === "configSchema" ? "Config schema" : "Credentials schema"));
          details.appendChild(el("pre", JSON.stringify(provider[key], null, 2)));
        }
      }
      card.appendChild(details);
    }
    list.appendChild(card);
  }
}

async function loadWebhooks() {
  const list = $("webhook-list");
  list.replaceChildren();
  if (!state.workspace) return;
  const page = await api("GET", "/api/v1/workspaces/" + state.workspace + "/webhooks?limit=100");
  if (!page.items.length) list.appendChild(el("p", "No webhooks in this workspace."));
  for (const hook of page.items) {
    const card = el("div", null, "card");
    const title = el("h3", hook.url + " ");
    title.appendChild(el("span", hook.status, "status-" + hook.status));
    card.appendChild(title);
    card.appendChild(el("p", "events: " + (hook.eventTypes || []).join(", ")));
    const table = el("table");
    const head = el("thead");
    head.appendChild(row(["Event", "Status", "Attempts", "HTTP", "Next attempt", "Error", "Created"]));
    table.appendChild(head);
    const body = el("tbody");
    const deliveries = await api("GET", "/api/v1/webhooks/" + hook.id + "/deliveries?limit=20");
    for (const d of deliveries.items) {
      body.appendChild(row([d.eventType, el("span", d.status, "status-" + d.status), d.attempts, d.lastStatusCode, d.nextAttemptAt, d.lastError, d.createdAt]));
    }
    table.appendChild(body);
    card.appendChild(table);
    list.appendChild(card);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", async () => {
    await api("POST", "/api/v1/auth/logout").catch(() => {});
    signOut();
  });
  $("workspace").addEventListener("change", (event) => {
    state.workspace = event.target.value;
    openTab(document.querySelector("nav button.active").dataset.tab);
  });
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => openTab(button.dataset.tab));
  render();
});
