// Millwright hub UI: polls the JSON API and redraws. No framework, no build.
"use strict";

const REFRESH_MS = 2000;
const STALE_MS = 60000; // a machine silent this long is drawn dimmed
const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") Object.assign(e.style, v); // CSSOM: allowed by the CSP, unlike style=""
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

async function getJSON(path, opts) {
  const r = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, opts));
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function ago(iso) {
  const t = Date.parse(iso);
  if (!t || t < 86400000) return "never";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return new Date(t).toLocaleDateString();
}

function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleDateString() === new Date().toLocaleDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

// level colours a score against its threshold: green well below, amber
// close to it, red at or above.
function level(score, threshold) {
  if (score == null) return "lvl-none";
  const thr = threshold > 0 ? threshold : 1;
  if (score >= thr) return "lvl-bad";
  if (score >= 0.8 * thr) return "lvl-warn";
  return "lvl-ok";
}

function machineCard(m) {
  const lvl = level(m.score, m.threshold);
  const thr = m.threshold > 0 ? m.threshold : 1;
  // Scale so the threshold sits at 80% of the bar.
  const scale = thr / 0.8;
  const pct = m.score == null ? 0 : Math.min(100, (100 * m.score) / scale);
  const scoreText = m.score == null ? "–" : m.score.toFixed(3);
  const stale = Date.now() - Date.parse(m.last_seen) > STALE_MS;
  return el("div", { class: "machine" + (stale ? " stale" : ""), "data-machine": m.id, title: stale ? "no data for a while" : "" },
    el("div", { class: "top" },
      el("span", { class: "id" }, m.id, m.open_alerts > 0 ? el("span", { class: "badge", title: "open alerts" }, String(m.open_alerts)) : null),
      el("span", { class: "score " + lvl, title: "latest champion score" }, scoreText)),
    el("div", { class: "bar", title: "threshold " + (m.threshold ?? "unknown") },
      el("span", { class: lvl, style: { width: pct.toFixed(1) + "%" } }),
      m.threshold > 0 ? el("i", { style: { left: "80%" } }) : null),
    el("div", { class: "meta" }, [m.type, m.model, "seen " + ago(m.last_seen)].filter(Boolean).join(" · ")));
}

function renderFleet(gateways, machines) {
  const byGw = new Map();
  for (const m of machines) {
    if (!byGw.has(m.gateway)) byGw.set(m.gateway, []);
    byGw.get(m.gateway).push(m);
  }
  const fleet = $("#fleet");
  fleet.replaceChildren(...gateways.map((g) =>
    el("div", { class: "gateway", "data-gateway": g.id },
      el("div", { class: "head" },
        el("span", { class: "name" }, g.id),
        el("span", { class: "pill " + (g.online ? "online" : "offline") }, g.online ? "online" : "offline"),
        el("span", { class: "meta" }, "last seen " + ago(g.last_seen) + (g.agent_version ? " · agent " + g.agent_version : ""))),
      el("div", { class: "machines" }, ...(byGw.get(g.id) || []).map(machineCard)))));
  $("#no-gateways").hidden = gateways.length > 0;
}

async function ack(id, button) {
  button.disabled = true;
  try {
    await getJSON("api/v1/alerts/" + encodeURIComponent(id) + "/ack", { method: "POST" });
    await refresh();
  } catch (e) {
    button.disabled = false;
    showError(e);
  }
}

function renderAlerts(alerts) {
  const body = $("#alerts tbody");
  body.replaceChildren(...alerts.map((a) => {
    const b = el("button", { type: "button", onclick: () => ack(a.id, b) }, "Acknowledge");
    return el("tr", { "data-alert": a.id },
      el("td", { class: "when" }, clock(a.start)),
      el("td", {}, a.gateway + " / " + a.machine),
      el("td", { class: "sev " + a.severity }, a.severity),
      el("td", { class: "num " + level(a.score, a.threshold) }, a.score.toFixed(3) + " / " + a.threshold.toFixed(3)),
      el("td", {}, b));
  }));
  $("#alerts").hidden = alerts.length === 0;
  $("#no-alerts").hidden = alerts.length > 0;
  $("#alert-count").textContent = alerts.length ? "(" + alerts.length + ")" : "";
}

function showError(e) { $("#error").textContent = e ? String(e.message || e) : ""; }

async function refresh() {
  try {
    const [st, gw, ms, al] = await Promise.all([
      getJSON("api/v1/status"), getJSON("api/v1/gateways"),
      getJSON("api/v1/machines"), getJSON("api/v1/alerts?status=open")]);
    $("#summary").textContent = `gateways ${st.gateways_online}/${st.gateways} online · machines ${st.machines} · ` +
      `alerts ${st.alerts_open} open · ingested ${st.ingested}` + (st.ready ? "" : " · not ready");
    renderFleet(gw.gateways, ms.machines);
    renderAlerts(al.alerts);
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    showError(null);
  } catch (e) {
    showError(e);
  }
}

let timer = null;
function loop() {
  refresh().finally(() => { timer = setTimeout(loop, REFRESH_MS); });
}
document.addEventListener("visibilitychange", () => {
  if (document.hidden) { clearTimeout(timer); timer = null; } else if (timer === null) loop();
});
loop();
