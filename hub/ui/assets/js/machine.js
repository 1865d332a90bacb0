// Machine: live scores of champion, twin and challengers on one time axis
// with the threshold and alert markers; alert history and deployments.
// Live updates arrive as server-sent events (GET api/v1/stream) instead of
// polling: new metric points and alerts are drawn as the hub ingests them.

import { auditTable, confirmDialog, toast, fill, arr, el, ago, clock, count, dur, ms, num, level, panel, table, unavailable, short } from "./dom.js";
import { get, post, optional, enc, machinePath, can, NotAvailable } from "./api.js";
import { ScoreChart } from "./chart.js";

const ranges = [["15m", "15 min"], ["1h", "1 hour"], ["6h", "6 hours"], ["24h", "1 day"], ["168h", "7 days"]];
const fields = [["score_mean", "mean"], ["score_max", "max"], ["score_last", "last"]];
const pref = { since: "1h", field: "score_mean" };

export async function mount(view, [gw, id]) {
  const base = machinePath(gw, id);
  const head = el("div", { class: "machine-head" });
  const chartBox = el("div", { class: "chart", "data-chart": "scores" });
  const rangeSel = el("select", { "aria-label": "time range" }, ranges.map(([v, t]) => el("option", { value: v }, t)));
  const fieldSel = el("select", { "aria-label": "score" }, fields.map(([v, t]) => el("option", { value: v }, "score " + t)));
  rangeSel.value = pref.since;
  fieldSel.value = pref.field;
  const live = el("input", { type: "checkbox", checked: true, id: "live" });
  const liveState = el("span", { class: "live-state", "data-live": "connecting" }, "connecting…");
  const info = el("div", { class: "sub" });
  const alertsBox = el("div");
  const depsBox = el("div");
  const auditBox = el("div");
  const driftBox = el("div");
  view.append(
    el("div", { class: "crumbs" }, el("a", { href: "#/fleet" }, "Fleet"), " › ", gw, " › ", el("b", {}, id)),
    head,
    panel("Anomaly scores",
      el("div", { class: "toolbar" }, rangeSel, fieldSel, el("label", { class: "check" }, live, " live"), liveState,
        el("span", { class: "sub grow hint" }, "drag to zoom, double-click to reset"),
        el("a", { class: "button secondary", href: "#/ab/" + enc(gw) + "/" + enc(id) }, "A/B comparison")),
      chartBox, info),
    panel("Alerts", alertsBox),
    panel("Drift", driftBox),
    panel("Deployments", depsBox),
    panel("Changes", auditBox));
  const chart = new ScoreChart(chartBox, { height: innerWidth < 600 ? 220 : 300 });

  async function loadHead() {
    const ms_ = await get("machines");
    const m = ms_.machines.find((x) => x.gateway === gw && x.id === id);
    if (!m) {
      fill(head, el("p", { class: "empty" }, "This machine is not in the registry."));
      return;
    }
    const lvl = level(m.score, m.threshold);
    fill(head, 
      el("h1", {}, id, " ", el("span", { class: "num lvl-" + lvl }, num(m.score))),
      el("div", { class: "facts" },
        fact("type", m.type || "–"), fact("site / line", (m.site || "–") + " / " + (m.line || "–")),
        fact("gateway", gw), fact("sensors", arr(m.sensors).join(", ") || "–"),
        fact("champion", m.model || "–"), fact("threshold", num(m.threshold)),
        fact("last seen", ago(m.last_seen)), fact("open alerts", String(m.open_alerts))));
  }

  let alerts = [];
  let points = [];
  let windowMs = 0; // the range's length: points older than newest - windowMs fall off
  async function loadScores() {
    const [pts, al] = await Promise.all([
      get(base + "/metrics?since=" + enc(rangeSel.value) + "&limit=10000"),
      get("alerts?gateway=" + enc(gw) + "&machine=" + enc(id) + "&limit=200")]);
    alerts = arr(al.alerts);
    points = arr(pts.points);
    windowMs = Date.now() - ms(pts.since);
    await drawScores();
  }

  async function drawScores() {
    const since = Date.now() - windowMs;
    if (points.length && ms(points[0].time) < since) points = points.filter((p) => ms(p.time) >= since);
    await chart.update(points, alerts.filter((a) => ms(a.start) >= since), fieldSel.value);
    const models = new Set(points.map((p) => p.model + "/" + p.role));
    info.textContent = points.length
      ? `${points.length} points · ${models.size} models · newest ${ago(points[points.length - 1].time)}`
      : "No metrics in this range.";
    fill(alertsBox, alerts.length ? table(["Started", "Severity", "Score", "Model", "Status", ""],
      alerts.map((a) => el("tr", { "data-alert": a.id },
        el("td", {}, clock(a.start)),
        el("td", { class: "sev " + a.severity }, a.severity),
        el("td", { class: "num lvl-" + level(a.score, a.threshold) }, num(a.score) + " / " + num(a.threshold)),
        el("td", {}, a.model),
        el("td", {}, el("span", { class: "status " + a.status }, a.status)),
        el("td", {}, el("a", { href: "#/alerts/" + enc(a.id) }, "open"))))) : el("p", { class: "empty" }, "No alerts."));
  }

  async function loadDrift() {
    const d = await optional("drift?gateway=" + enc(gw) + "&machine=" + enc(id) + "&since=168h&limit=50");
    if (!d) { fill(driftBox, unavailable("Drift events", "/api/v1/drift")); return; }
    const list = arr(d.drift);
    fill(driftBox, list.length ? table(["When", "Model", "Detector", "Signal", "Mean before → after", "Evidence"],
      list.map((x) => el("tr", { "data-drift": x.signal },
        el("td", {}, clock(x.time)), el("td", {}, x.model, " ", el("span", { class: "role " + x.role }, x.role)),
        el("td", {}, x.detector), el("td", {}, x.signal),
        el("td", { class: "num" }, num(x.before) + " → " + num(x.after)), el("td", { class: "num" }, count(x.samples) + " samples")))) :
      el("p", { class: "empty" }, "No drift in the last 7 days."));
  }

  async function loadAudit() {
    const a = await optional("audit?subject=" + enc("asset/" + gw + "/" + id) + "&limit=20");
    fill(auditBox, a ? auditTable(a.entries) : unavailable("Change log", "/api/v1/audit"));
  }

  async function remove(d) {
    const reason = el("input", { placeholder: "why (optional)", "aria-label": "reason" });
    const ok = await confirmDialog(`Remove ${d.name} from ${id}?`,
      el("div", {}, el("p", {}, `The agent stops running this ${d.role}; the champion is not touched.`), reason), "Remove");
    if (!ok) return;
    try {
      await post("deployments/" + enc(d.id) + "/remove", { reason: reason.value.trim() });
      toast("Removal sent to the gateway");
      await Promise.all([loadDeps(), loadAudit()]);
    } catch (e) {
      toast(e instanceof NotAvailable ? "Removing is not available on this hub yet" : e.message, true);
    }
  }

  async function loadDeps() {
    const d = await optional("deployments?gateway=" + enc(gw) + "&machine=" + enc(id) + "&limit=100");
    if (!d) { fill(depsBox, unavailable("Deployment history", "/api/v1/deployments")); return; }
    const deps = arr(d.deployments);
    fill(depsBox, deps.length ? table(["Role", "Model", "Kind", "Status", "Since", "By / why", "Snapshot", ""],
      deps.map((x) => el("tr", { "data-deployment": x.id, class: x.status === "acked" || x.status === "pending" ? "" : "ended" },
        el("td", {}, el("span", { class: "role " + x.role }, x.role)),
        el("td", {}, x.name), el("td", {}, x.kind),
        el("td", {}, x.status), el("td", {}, clock(x.since), el("div", { class: "sub" }, dur(Date.now() - ms(x.since)))),
        el("td", {}, [x.by, x.reason].filter(Boolean).join(": ") || "–"),
        el("td", { class: "mono" }, x.snapshot ? el("a", { href: "#/models/" + enc(x.snapshot) }, short(x.snapshot, 12)) : "–"),
        el("td", {}, x.role !== "champion" && (x.status === "acked" || x.status === "pending") && can("operator") ? el("button", {
          type: "button", class: "secondary small", "data-action": "remove", onclick: () => remove(x),
        }, "Remove…") : null)))) :
      el("p", { class: "empty" }, "No deployments recorded."));
  }

  // The champion's newest point also moves the header's score.
  function drawHeadScore(p) {
    const n = head.querySelector("h1 .num");
    if (n && p.role === "champion") { n.textContent = num(p.score_last); n.className = "num lvl-" + level(p.score_last, p.threshold); }
  }

  // Server push: metrics and alerts of this machine as the hub stores them.
  // EventSource reconnects by itself (the hub asks for 3 s); after a
  // reconnect or a "resync" (events were dropped for a slow page) the page
  // reloads what it shows, since it may have missed something.
  let es = null;
  let retry = 0;
  let connectedOnce = false;
  let queued = Promise.resolve();
  const serial = (f) => { queued = queued.then(f).catch((e) => console.warn(e)); };
  function setLive(state, text) { liveState.dataset.live = state; liveState.textContent = text; liveState.classList.toggle("on", state === "live"); }
  function connect() {
    clearTimeout(retry);
    if (es) es.close();
    es = new EventSource("api/v1/stream?gateway=" + enc(gw) + "&machine=" + enc(id));
    es.addEventListener("hello", () => {
      setLive("live", "live");
      if (connectedOnce) serial(loadScores);
      connectedOnce = true;
    });
    es.addEventListener("metrics", (e) => serial(async () => {
      const ev = JSON.parse(e.data);
      const fresh = arr(ev.points);
      if (!fresh.length) return;
      const last = points.length ? ms(points[points.length - 1].time) : 0;
      if (ms(fresh[0].time) < last) { points.push(...fresh); points.sort((a, b) => ms(a.time) - ms(b.time)); } else points.push(...fresh);
      fresh.forEach(drawHeadScore);
      await drawScores();
    }));
    es.addEventListener("alert", (e) => serial(async () => {
      const a = JSON.parse(e.data);
      alerts = [a, ...alerts.filter((x) => x.id !== a.id)];
      await drawScores();
      dispatchEvent(new Event("mw:changed"));
    }));
    es.addEventListener("drift", () => serial(loadDrift));
    es.addEventListener("resync", () => serial(loadScores));
    es.addEventListener("logout", () => { es.close(); dispatchEvent(new Event("mw:unauthorized")); });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (e.g. too many streams, or logged out): try again later.
        setLive("down", "reconnecting…");
        retry = setTimeout(() => { if (live.checked) connect(); }, 5000);
      } else setLive("down", "reconnecting…");
    };
  }
  function disconnect() { clearTimeout(retry); if (es) es.close(); es = null; setLive("off", "paused"); }

  rangeSel.addEventListener("change", () => { pref.since = rangeSel.value; serial(loadScores); });
  fieldSel.addEventListener("change", () => { pref.field = fieldSel.value; serial(drawScores); });
  live.addEventListener("change", () => { if (live.checked) { connectedOnce = true; connect(); } else disconnect(); });
  await Promise.all([loadHead(), loadScores(), loadDeps(), loadAudit(), loadDrift()]);
  connect();
  let tick = 0;
  return {
    // Scores, alerts and drift come pushed; the slower-moving parts are
    // re-read every 30 s.
    refresh: async () => {
      if (!live.checked || ++tick % 10 !== 0) return;
      await Promise.all([loadHead(), loadDeps(), loadAudit()]);
    },
    dispose: () => { disconnect(); chart.dispose(); },
  };
}

function fact(k, v) {
  return el("div", { class: "fact" }, el("span", { class: "k" }, k), el("span", { class: "v" }, v));
}
