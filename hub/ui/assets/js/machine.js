// Machine: live scores of champion, twin and challengers on one time axis
// with the threshold and alert markers; alert history and deployments.

import { auditTable, confirmDialog, toast, fill, arr, el, ago, clock, count, dur, ms, num, level, panel, table, unavailable, short } from "./dom.js";
import { get, post, optional, enc, machinePath, NotAvailable } from "./api.js";
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
  const info = el("div", { class: "sub" });
  const alertsBox = el("div");
  const depsBox = el("div");
  const auditBox = el("div");
  const driftBox = el("div");
  view.append(
    el("div", { class: "crumbs" }, el("a", { href: "#/fleet" }, "Fleet"), " › ", gw, " › ", el("b", {}, id)),
    head,
    panel("Anomaly scores",
      el("div", { class: "toolbar" }, rangeSel, fieldSel, el("label", { class: "check" }, live, " live"),
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
  async function loadScores() {
    const [pts, al] = await Promise.all([
      get(base + "/metrics?since=" + enc(rangeSel.value) + "&limit=10000"),
      get("alerts?gateway=" + enc(gw) + "&machine=" + enc(id) + "&limit=200")]);
    alerts = arr(al.alerts);
    const since = ms(pts.since);
    const points = arr(pts.points);
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
        el("td", {}, x.role !== "champion" && (x.status === "acked" || x.status === "pending") ? el("button", {
          type: "button", class: "secondary small", "data-action": "remove", onclick: () => remove(x),
        }, "Remove…") : null)))) :
      el("p", { class: "empty" }, "No deployments recorded."));
  }

  rangeSel.addEventListener("change", () => { pref.since = rangeSel.value; loadScores(); });
  fieldSel.addEventListener("change", () => { pref.field = fieldSel.value; loadScores(); });
  await Promise.all([loadHead(), loadScores(), loadDeps(), loadAudit(), loadDrift()]);
  let tick = 0;
  return {
    refresh: async () => {
      if (!live.checked) return;
      tick++;
      await Promise.all([loadScores(), tick % 5 === 0 ? loadHead() : null, tick % 10 === 0 ? loadDeps() : null, tick % 10 === 5 ? loadAudit() : null, tick % 10 === 7 ? loadDrift() : null]);
    },
    dispose: () => chart.dispose(),
  };
}

function fact(k, v) {
  return el("div", { class: "fact" }, el("span", { class: "k" }, k), el("span", { class: "v" }, v));
}
