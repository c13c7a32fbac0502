// The analyst console: a small single-page app over the staff API, no framework and no build step.
// Every value is put on the page as text (createTextNode / textContent), never parsed as HTML.
// Tokens live in sessionStorage and travel only in the Authorization header.
"use strict";

const STORE = window.sessionStorage;
const $ = (id) => document.getElementById(id);

// ---------- DOM helpers: text only ----------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "onclick" || key === "onchange" || key === "onsubmit") node.addEventListener(key.slice(2), value);
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const svgNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(svgNS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}
function show(view) {
  for (const id of ["login-view", "refused-view", "app-view"]) $(id).hidden = id !== view;
  $("nav").hidden = view !== "app-view";
}
function fmtTime(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(\+00:00|Z)$/, " UTC") : "–"; }
function fmtPct(x, digits = 1) { return x === null || x === undefined ? "–" : (100 * x).toFixed(digits) + " %"; }
function fmtRisk(x) { return x === null || x === undefined ? "–" : Number(x).toFixed(3); }
function labelName(isFraud) { return isFraud === null || isFraud === undefined ? "none" : isFraud ? "fraud" : "legitimate"; }
function labelBadge(isFraud) {
  const name = labelName(isFraud);
  return el("span", { className: "badge " + name }, name === "none" ? "unlabelled" : name);
}
function statusBadge(t) {
  return el("span", {}, el("span", { className: "badge " + t.status }, t.status),
    t.review_required ? [" ", el("span", { className: "badge band" }, "review band")] : null);
}

// ---------- session ----------
const session = {
  get access() { return STORE.getItem("console.access"); },
  get refresh() { return STORE.getItem("console.refresh"); },
  get user() { return STORE.getItem("console.user"); },
  save(s) { STORE.setItem("console.access", s.access); STORE.setItem("console.refresh", s.refresh);
            STORE.setItem("console.user", s.username); },
  clear() { for (const k of ["console.access", "console.refresh", "console.user"]) STORE.removeItem(k); },
};

class Refused extends Error {}
class LoggedOut extends Error {}

async function problem(response) {
  try { const body = await response.json(); return body.detail || body.title || response.statusText; }
  catch (e) { return response.statusText || "request failed"; }
}

let refreshing = null;  // one refresh at a time, whoever asks
function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = session.refresh;
      if (!token) return false;
      const response = await fetch("/staff/session/refresh", { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: token }) });
      if (!response.ok) return false;
      session.save(await response.json());
      return true;
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A staff API call: an expired access token is refreshed once and the call repeated, so the analyst stays
// where they are; a failed refresh returns to the login form (the page's address is kept for after it).
async function api(path, options = {}, retried = false) {
  const headers = { ...(options.headers || {}), Authorization: "Bearer " + session.access };
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method: options.method || "GET", headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : undefined });
  if (response.status === 401 && !retried) {
    if (await refreshSession()) return api(path, options, true);
    session.clear();
    throw new LoggedOut();
  }
  if (response.status === 401) { session.clear(); throw new LoggedOut(); }
  if (response.status === 403) throw new Refused(await problem(response));
  if (!response.ok) throw new Error(await problem(response));
  return options.raw ? response : response.json();
}

// ---------- routing ----------
function route() {
  const hash = location.hash.replace(/^#/, "") || "/queue";
  const [path, query] = hash.split("?");
  return { path, params: new URLSearchParams(query || "") };
}
async function render() {
  if (!session.access) { showLogin(); return; }
  show("app-view");
  $("who").textContent = session.user || "";
  $("app-error").textContent = "";
  const { path, params } = route();
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", hashPath(a) === path.split("/").slice(0, 2).join("/"));
  const content = $("content");
  try {
    let view;
    if (path.startsWith("/tx/")) view = await detailView(decodeURIComponent(path.slice(4)));
    else if (path === "/overview") view = await overviewView();
    else if (path === "/model") view = await modelView();
    else if (path === "/what-if") view = await whatIfView();
    else view = await queueView(params);
    content.replaceChildren(view);
  } catch (error) {
    if (error instanceof LoggedOut) { showLogin("Your session has ended; log in again."); return; }
    if (error instanceof Refused) { showRefused(error.message); return; }
    $("app-error").textContent = error.message;
  }
}
function hashPath(a) { return a.getAttribute("href").replace(/^#/, ""); }

function showLogin(message) {
  show("login-view");
  $("login-error").textContent = message || "";
  $("username").focus();
}
function showRefused(message) {
  session.clear();
  show("refused-view");
  $("refused-message").textContent = message;
}

async function logIn(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button");
  button.disabled = true;
  $("login-error").textContent = "";
  try {
    const response = await fetch("/staff/session", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: form.username.value, password: form.password.value }) });
    if (response.status === 403) { form.password.value = ""; showRefused(await problem(response)); return; }
    if (!response.ok) { $("login-error").textContent = await problem(response); return; }
    session.save(await response.json());
    form.password.value = "";
    await render();
  } catch (error) {
    $("login-error").textContent = "The console cannot reach the server: " + error.message;
  } finally {
    button.disabled = false;
  }
}

async function logOut() {
  const refresh = session.refresh, access = session.access;
  session.clear();
  if (refresh) {
    fetch("/staff/session/logout", { method: "POST", headers: { "Content-Type": "application/json",
      Authorization: "Bearer " + access }, body: JSON.stringify({ refresh }) }).catch(() => {});
  }
  location.hash = "#/queue";
  showLogin("Logged out.");
}

// ---------- queue ----------
const FILTERS = [
  ["status", "Status", ["BLOCKED", "APPROVED"]],
  ["decided_by", "Decided by", ["model", "fallback", "analyst"]],
  ["label", "Label", ["none", "labelled", "fraud", "legitimate"]],
];

async function queueView(params) {
  const query = new URLSearchParams();
  for (const key of ["status", "decided_by", "label", "customer_id", "terminal_id", "since", "until", "cursor"]) {
    const value = params.get(key);
    if (value) query.set(key, key === "since" || key === "until" ? value + "T00:00:00Z" : value);
  }
  query.set("limit", "25");
  const page = await api("/staff/queue?" + query);
  const counts = page.counts;

  const form = el("form", { id: "queue-filters", onsubmit: (e) => { e.preventDefault(); applyFilters(e.target); } });
  for (const [name, title, values] of FILTERS) {
    const select = el("select", { name, id: "filter-" + name, onchange: (e) => applyFilters(e.target.form) },
      el("option", { value: "" }, "all"),
      values.map((v) => el("option", { value: v, selected: params.get(name) === v },
        `${v === "none" ? "unlabelled" : v} (${counts[name === "label" ? "label" : name][v] ?? 0})`)));
    form.appendChild(el("label", {}, title, select));
  }
  for (const [name, title, type] of [["customer_id", "Customer", "text"], ["terminal_id", "Terminal", "text"],
                                     ["since", "From (UTC)", "date"], ["until", "Before (UTC)", "date"]]) {
    form.appendChild(el("label", {}, title, el("input", { name, id: "filter-" + name, type,
      value: params.get(name) || "", maxlength: type === "text" ? 64 : null })));
  }
  form.appendChild(el("button", { type: "submit" }, "Apply"));

  const rows = page.items.map((t) => el("tr", { className: "clickable", "data-id": t.id,
      onclick: () => { location.hash = "#/tx/" + encodeURIComponent(t.id); } },
    el("td", {}, fmtTime(t.timestamp)),
    el("td", { className: "num" }, t.amount), el("td", {}, t.currency),
    el("td", {}, t.customer_id), el("td", { className: "terminal" }, t.terminal_id),
    el("td", {}, statusBadge(t)), el("td", { className: "num" }, fmtRisk(t.risk_score)),
    el("td", {}, t.reasons.length ? t.reasons[0] : "–"),
    el("td", {}, t.decided_by || "–"), el("td", {}, labelBadge(t.is_fraud))));

  const pager = el("div", { className: "pager" });
  if (params.get("cursor")) {
    pager.appendChild(el("button", { type: "button", className: "secondary", onclick: () => {
      params.delete("cursor"); location.hash = "#/queue?" + params; } }, "Newest"));
  }
  if (page.next_cursor) {
    pager.appendChild(el("button", { type: "button", id: "older", onclick: () => {
      params.set("cursor", page.next_cursor); location.hash = "#/queue?" + params; } }, "Older →"));
  }
  return el("div", {},
    el("h1", {}, "Review queue"),
    el("p", {}, "Blocked transactions and approved ones in the review band, newest first."),
    form,
    el("p", { className: "counts", id: "queue-total" }, `${counts.total} transaction(s) match these filters`),
    el("table", { id: "queue" },
      el("thead", {}, el("tr", {}, ["Time", "Amount", "Cur.", "Customer", "Terminal", "Decision", "Risk",
        "Top reason", "Decided by", "Label"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 10 }, "Nothing to review.")))),
    pager);
}

function applyFilters(form) {
  const params = new URLSearchParams();
  for (const element of form.elements) {
    if (element.name && element.value.trim()) params.set(element.name, element.value.trim());
  }
  location.hash = "#/queue?" + params;
}

// ---------- transaction detail ----------
function facts(pairs) {
  return el("dl", { className: "facts" }, pairs.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function detailView(id) {
  const d = await api("/staff/transactions/" + encodeURIComponent(id));
  const t = d.transaction;
  const comment = el("textarea", { id: "action-comment", maxlength: 1000, placeholder: "comment (optional)" });
  const message = el("p", { id: "action-message", className: "notice", role: "status" });
  async function act(path, body, done) {
    for (const b of document.querySelectorAll(".actions button")) b.disabled = true;
    try {
      const result = await api(`/staff/transactions/${encodeURIComponent(t.id)}/${path}`,
        { method: "POST", json: { ...body, comment: comment.value.trim() || undefined } });
      const view = await detailView(t.id);
      $("content").replaceChildren(view);
      $("action-message").textContent = `${done} — feedback to the fraud service ${result.feedback}.`;
    } catch (error) {
      if (error instanceof LoggedOut) { showLogin("Your session has ended; log in again."); return; }
      if (error instanceof Refused) { showRefused(error.message); return; }
      message.textContent = "";
      $("app-error").textContent = error.message;
      for (const b of document.querySelectorAll(".actions button")) b.disabled = false;
    }
  }
  const actions = el("div", { className: "actions" }, comment,
    el("button", { type: "button", id: "label-fraud", className: "danger",
      onclick: () => act("label", { is_fraud: true }, "Labelled fraud") }, "Label fraud"),
    el("button", { type: "button", id: "label-legitimate", className: "ok",
      onclick: () => act("label", { is_fraud: false }, "Labelled legitimate") }, "Label legitimate"),
    t.status === "BLOCKED" ? el("button", { type: "button", id: "release", className: "secondary",
      onclick: () => act("release", {}, "Released") }, "Release (approve, legitimate)") : null);

  const history = d.customer_history;
  const windows = d.terminal.windows;
  return el("div", { id: "detail" },
    el("p", {}, el("a", { href: "#/queue" }, "← queue")),
    el("h1", {}, `${t.amount} ${t.currency} `, statusBadge(t), " ", labelBadge(t.is_fraud)),
    el("div", { className: "grid" },
      el("div", { className: "panel" }, el("h2", {}, "Decision"), facts([
        ["Transaction", t.id], ["Time", fmtTime(t.timestamp)], ["Customer", t.customer_id],
        ["Terminal", el("span", { className: "terminal" }, t.terminal_id)],
        ["Status", t.status], ["Decided by", t.decided_by || "–"],
        ["Original decision", t.original_status ? `${t.original_status} by ${t.original_decided_by}` : "–"],
        ["Risk score", fmtRisk(t.risk_score)], ["Review required", t.review_required ? "yes" : "no"],
        ["Model version", t.model_version || "–"], ["Decided at", fmtTime(t.decided_at)],
        ["Label", labelName(t.is_fraud)],
      ]), el("h2", {}, "Reasons"),
      el("ul", { id: "reasons" }, t.reasons.length ? t.reasons.map((r) => el("li", {}, r)) : el("li", {}, "none given")),
      d.contributions && d.contributions.length ? [el("h2", {}, "Largest feature contributions"),
        el("table", { id: "contributions" }, el("thead", {}, el("tr", {}, ["Feature", "Value", "Contribution"]
          .map((h) => el("th", {}, h)))),
          el("tbody", {}, d.contributions.slice(0, 8).map((c) => el("tr", {}, el("td", {}, c.feature),
            el("td", { className: "num" }, fmtNumber(c.value)), el("td", { className: "num" }, fmtNumber(c.contribution))))))]
        : null),
      el("div", { className: "panel" }, el("h2", {}, "Actions"), actions, message,
        el("h2", {}, `Terminal ${d.terminal.terminal_id}: labelled fraud rate`),
        el("table", { id: "terminal-risk" }, el("thead", {}, el("tr", {}, ["Window", "Labelled", "Fraud", "Rate"]
          .map((h) => el("th", {}, h)))),
          el("tbody", {}, windows.map((w) => el("tr", {}, el("td", {}, `${w.days} days`),
            el("td", { className: "num" }, w.labelled), el("td", { className: "num" }, w.frauds),
            el("td", { className: "num" }, fmtPct(w.fraud_rate))))))),
    ),
    el("h2", {}, `Customer ${t.customer_id}: last ${history.window_days} days (${history.total} transactions, `
      + `${history.blocked} blocked, ${history.labelled_fraud} labelled fraud)`),
    el("table", { id: "customer-history" },
      el("thead", {}, el("tr", {}, ["Time", "Amount", "Terminal", "Decision", "Risk", "Decided by", "Label"]
        .map((h) => el("th", {}, h)))),
      el("tbody", {}, history.transactions.map((h) => el("tr", { className: "clickable" + (h.id === t.id ? " current" : ""),
          onclick: () => { location.hash = "#/tx/" + encodeURIComponent(h.id); } },
        el("td", {}, fmtTime(h.timestamp)), el("td", { className: "num" }, `${h.amount} ${h.currency}`),
        el("td", {}, h.terminal_id), el("td", {}, statusBadge(h)), el("td", { className: "num" }, fmtRisk(h.risk_score)),
        el("td", {}, h.decided_by || "–"), el("td", {}, labelBadge(h.is_fraud)))))),
    el("h2", {}, "Label history"),
    el("table", { id: "label-history" },
      el("thead", {}, el("tr", {}, ["When", "Label", "By", "Fraud service"].map((h) => el("th", {}, h)))),
      el("tbody", {}, d.labels.length ? d.labels.map((l) => el("tr", {}, el("td", {}, fmtTime(l.at)),
        el("td", {}, labelBadge(l.is_fraud)), el("td", {}, l.labelled_by || "–"), el("td", {}, l.feedback)))
        : el("tr", {}, el("td", { colspan: 4 }, "Not labelled yet.")))),
    el("h2", {}, "Audit trail"),
    el("table", { id: "audit" },
      el("thead", {}, el("tr", {}, ["When", "Who", "Action", "Before", "After", "Comment"].map((h) => el("th", {}, h)))),
      el("tbody", {}, d.audit.length ? d.audit.map((a) => el("tr", {}, el("td", {}, fmtTime(a.created_at)),
        el("td", {}, a.actor), el("td", {}, a.action),
        el("td", {}, `${a.before.status} · ${a.before.decided_by} · ${a.before.label}`),
        el("td", {}, `${a.after.status} · ${a.after.decided_by} · ${a.after.label}`), el("td", {}, a.comment || "")))
        : el("tr", {}, el("td", { colspan: 6 }, "No action yet.")))));
}

// ---------- overview ----------
async function overviewView() {
  const o = await api("/staff/overview");
  const card = (label, value, id) => el("div", { className: "card", id }, el("div", { className: "value" }, value),
    el("div", { className: "label" }, label));
  const windowCards = (title, s, key) => [el("h2", {}, title), el("div", { className: "cards" },
    card("decisions", s.decisions, `${key}-decisions`), card("blocked", s.blocked), card("block rate", fmtPct(s.block_rate, 2)),
    card("review band (approved)", s.review_band), card("fallback share", fmtPct(s.fallback_share, 2)))];
  return el("div", { id: "overview" }, el("h1", {}, "Overview"),
    windowCards("Last hour", o.last_hour, "hour"), windowCards("Last 24 hours", o.last_day, "day"),
    el("h2", {}, "Work waiting"), el("div", { className: "cards" },
      card("unlabelled blocked", o.unlabelled_blocked, "unlabelled-blocked"),
      card("unlabelled in the review band", o.unlabelled_review_band),
      card("labels delivered to the fraud service", o.labels.delivered, "labels-delivered"),
      card("labels queued for delivery", o.labels.queued, "labels-queued")),
    el("p", { className: "counts" }, `Block at risk ≥ ${o.block_risk_score}; review band from risk ${o.review_threshold}. `
      + `As of ${fmtTime(o.generated_at)}.`));
}

// ---------- model ----------
async function modelView() {
  const m = await api("/staff/model");
  const evaluation = m.metrics.evaluation || {};
  const training = m.metrics.training || {};
  const metricRows = Object.keys(evaluation).map((k) => el("tr", {}, el("td", {}, k),
    el("td", { className: "num" }, fmtNumber(training[k])), el("td", { className: "num" }, fmtNumber(evaluation[k]))));
  const plots = el("div", { className: "plots", id: "plots" });
  for (const name of m.plots) {
    const img = el("img", { alt: name.replaceAll("_", " ") });
    plots.appendChild(el("figure", {}, img, el("figcaption", {}, name.replaceAll("_", " "))));
    api("/staff/model/plots/" + encodeURIComponent(name), { raw: true })
      .then((r) => r.blob()).then((blob) => { img.src = URL.createObjectURL(blob); })
      .catch((error) => { img.replaceWith(document.createTextNode("plot unavailable: " + error.message)); });
  }
  return el("div", { id: "model" }, el("h1", {}, "Model ", el("span", { id: "model-version" }, m.model_version)),
    facts([["Type", m.model_type || "–"], ["Created", fmtTime(m.created_at)],
      ["Training period", `${m.training_period.from} … ${m.training_period.to}`],
      ["Evaluation period", `${m.evaluation_period.from} … ${m.evaluation_period.to}`],
      ["Block threshold", `risk ≥ ${m.block_risk_score} (anomaly score ≥ ${fmtNumber(m.anomaly_threshold)}; ${m.threshold_rule})`],
      ["Review threshold", `risk ≥ ${m.review_threshold}`]]),
    el("h2", {}, "Metrics"),
    el("table", { id: "metrics" }, el("thead", {}, el("tr", {}, ["metric", "training", "evaluation"].map((h) => el("th", {}, h)))),
      el("tbody", {}, metricRows)),
    el("h2", {}, "Model card plots"), m.plots.length ? plots : el("p", {}, "The model's training report has no plots here."),
    comparisonSection());
}
// Champion vs the challenger scored in shadow, on the labelled transactions of a chosen period.
function comparisonSection() {
  const day = (offset) => new Date(Date.now() - offset * 86400000).toISOString().slice(0, 10);
  const from = el("input", { type: "date", id: "comparison-from", value: day(14) });
  const to = el("input", { type: "date", id: "comparison-to", value: day(0) });
  const result = el("div", { id: "comparison" });
  async function load() {
    result.replaceChildren(el("p", {}, "Loading…"));
    try {
      const c = await api(`/staff/model/comparison?from=${from.value}&to=${to.value}`);
      const rows = [["ROC AUC", "roc_auc"], ["average precision", "average_precision"],
        ["precision at threshold", "precision_at_threshold"], ["recall at threshold", "recall_at_threshold"],
        ["alert rate", "alert_rate"]].map(([title, key]) => el("tr", {}, el("td", {}, title),
        el("td", { className: "num" }, fmtNumber(c.champion[key])), el("td", { className: "num" }, fmtNumber(c.challenger[key]))));
      const changed = c.decisions_changed;
      result.replaceChildren(
        el("p", {}, `${c.transactions.toLocaleString("en")} transactions scored by both, ${c.labelled.toLocaleString("en")} labelled, ${c.frauds} frauds.`),
        el("table", { id: "comparison-metrics" }, el("thead", {}, el("tr", {}, ["", "champion " + Object.keys(c.champion.model_versions).join(", "),
          "challenger " + c.challenger.model_version].map((h) => el("th", {}, h)))), el("tbody", {}, rows)),
        el("p", {}, `Decisions that would change: ${changed.total} (${changed.approved_to_blocked} approved → blocked, `
          + `${changed.blocked_to_approved} blocked → approved; frauds newly blocked ${changed.frauds_newly_blocked}, newly approved ${changed.frauds_newly_approved}).`));
    } catch (error) {
      if (error instanceof LoggedOut) throw error;
      result.replaceChildren(el("p", { className: "notice" }, error.message));
    }
  }
  return el("section", {}, el("h2", {}, "Champion and challenger"),
    el("form", { onsubmit: (event) => { event.preventDefault(); load(); } }, "From ", from, " to ", to, " ",
      el("button", { type: "submit" }, "Compare")), result);
}
function fmtNumber(x) {
  if (x === null || x === undefined) return "–";
  return typeof x === "number" ? (Number.isInteger(x) ? x.toLocaleString("en") : x.toFixed(4)) : String(x);
}

// ---------- what-if ----------
async function whatIfView() {
  const w = await api("/staff/what-if?step=0.02");
  const rows = w.rows;
  const width = 760, height = 300, left = 44, right = 12, top = 12, bottom = 34;
  const x = (t) => left + t * (width - left - right);
  const y = (v) => top + (1 - v) * (height - top - bottom);
  const chart = svg("svg", { class: "chart", id: "what-if-chart", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": "fraud caught, precision and alert rate by threshold" });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    chart.appendChild(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#eaecf0" }));
    chart.appendChild(svg("text", { x: 4, y: y(v) + 4 }, `${v * 100}%`));
  }
  for (let t = 0; t <= 1.0001; t += 0.1) {
    chart.appendChild(svg("text", { x: x(t) - 8, y: height - 16 }, t.toFixed(1)));
  }
  chart.appendChild(svg("text", { x: width / 2 - 40, y: height - 2 }, "risk threshold"));
  const series = [["fraud_share", "#b42318", "fraud caught (share)"], ["precision", "#1d4ed8", "precision"],
                  ["alert_rate", "#b54708", "alert rate"]];
  for (const [key, colour] of series) {
    const points = rows.filter((r) => r[key] !== null).map((r) => `${x(r.threshold)},${y(r[key])}`).join(" ");
    if (points) chart.appendChild(svg("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2 }));
  }
  for (const r of rows) {
    for (const mark of r.current) {
      chart.appendChild(svg("line", { x1: x(r.threshold), x2: x(r.threshold), y1: top, y2: height - bottom,
        stroke: mark === "block" ? "#101828" : "#98a2b3", "stroke-dasharray": "4 3", class: "mark-" + mark }));
      chart.appendChild(svg("text", { x: x(r.threshold) + 3, y: top + 10 + (mark === "review" ? 12 : 0) },
        `${mark} ${r.threshold}`));
    }
  }
  const legend = el("p", { className: "legend" }, series.map(([, colour, name]) => {
    const swatch = el("span", { className: "swatch" });
    swatch.style.background = colour;
    return el("span", {}, swatch, name);
  }));
  const table = el("table", { id: "what-if-table" },
    el("thead", {}, el("tr", {}, ["Threshold", "Fraud caught", "Share", "Fraud amount caught", "Legit blocked",
      "Legit amount blocked", "Alert rate", "Precision", ""].map((h) => el("th", { className: "num" }, h)))),
    el("tbody", {}, rows.map((r) => el("tr", { className: r.current.length ? "current" : "",
        "data-threshold": r.threshold },
      el("td", { className: "num" }, r.threshold.toFixed(3)), el("td", { className: "num" }, r.frauds_caught),
      el("td", { className: "num" }, fmtPct(r.fraud_share)), el("td", { className: "num" }, r.fraud_amount_caught),
      el("td", { className: "num" }, r.legitimate_blocked), el("td", { className: "num" }, r.legitimate_amount_blocked),
      el("td", { className: "num" }, fmtPct(r.alert_rate)), el("td", { className: "num" }, fmtPct(r.precision)),
      el("td", {}, r.current.map((c) => `current ${c} threshold`).join(", "))))));
  return el("div", { id: "what-if" }, el("h1", {}, "Threshold what-if"),
    el("p", {}, `What each risk threshold would have done on the ${w.labelled} labelled, model-scored transactions `
      + `(${w.frauds} fraud, ${w.legitimate} legitimate). Labels come mostly from reviewed transactions, so `
      + `low thresholds are seen through the few labels below the review band.`),
    chart, legend, table);
}

// ---------- start ----------
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", logOut);
  $("refused-back").addEventListener("click", () => showLogin());
  window.addEventListener("hashchange", render);
  render();
});
