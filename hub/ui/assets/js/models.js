// Models: what runs where (production, shadow, rollout), the registered
// kinds with their last promotion, vectors scored per kind and day, the
// features that drive each model's alerts, and the snapshot registry as a
// lineage tree on a time axis.

import { auditTable, fill, arr, el, svg, ago, clock, ms, count, pct, panel, table, unavailable, short } from "./dom.js";
import { get, optional, enc } from "./api.js";

const active = (d) => d.status === "acked" || d.status === "pending";

export async function mount(view, [snapId]) {
  const countsBox = el("div", { class: "stats" });
  const kindsBox = el("div");
  const lineageBox = el("div");
  const snapsBox = el("div");
  const auditBox = el("div");
  const scoredBox = el("div");
  const promoBox = el("div");
  const featBox = el("div");
  // append would print a null (no snapshot chosen) as text: filter it out.
  view.append(...[el("h1", {}, "Models"), countsBox,
    snapId ? panel("Lineage of " + short(snapId, 16), lineageBox) : null,
    panel("Snapshots: lineage over time", snapsBox),
    panel("Kinds", kindsBox),
    panel("Vectors scored per day", scoredBox),
    panel("What drives the alerts", featBox),
    panel("Latest promotions by asset", promoBox),
    panel("Recent changes", auditBox)].filter(Boolean));

  async function load() {
    const [deps, rolls, kinds, snaps, machines, audit, stats] = await Promise.all([
      optional("deployments?active=true&limit=5000"), optional("rollouts?status=running"),
      optional("models"), optional("snapshots?limit=300"), get("machines"), optional("audit?limit=25"),
      optional("models/stats?days=14")]);
    fill(auditBox, audit ? auditTable(audit.entries) : unavailable("Change log", "/api/v1/audit"));
    drawCounts(deps, rolls, machines.machines);
    drawKinds(kinds, deps, machines.machines, stats);
    drawSnapshots(snaps);
    drawStats(stats);
  }

  function drawStats(stats) {
    if (!stats) {
      for (const b of [scoredBox, featBox, promoBox]) fill(b, unavailable("Model statistics", "/api/v1/models/stats"));
      return;
    }
    fill(scoredBox, scoredChart(arr(stats.days), arr(stats.scored)));
    fill(featBox, featureBars(arr(stats.features), stats.feature_alerts || {}));
    const ps = arr(stats.promotions && stats.promotions.assets);
    fill(promoBox, ps.length ? table(["Asset", "Kind", "Promoted", "By", "Status", "Rollout"], ps.map((p) =>
      el("tr", { "data-promoted-asset": p.gateway + "/" + p.machine },
        el("td", {}, el("a", { href: "#/machine/" + enc(p.gateway) + "/" + enc(p.machine) }, p.gateway + " / " + p.machine)),
        el("td", {}, el("b", {}, p.kind)), el("td", { title: clock(p.at) }, ago(p.at)), el("td", {}, p.by || "–"),
        el("td", {}, p.status), el("td", { class: "mono" }, p.rollout ? short(p.rollout, 14) : "–"))))
      : el("p", { class: "empty" }, "No champion has been promoted yet: every champion is the one its agent reported."));
  }

  function drawCounts(deps, rolls, machines) {
    const ds = deps ? arr(deps.deployments).filter(active) : null;
    const n = (f) => (ds ? String(ds.filter(f).length) : "–");
    fill(countsBox, 
      stat(n((d) => d.role === "champion"), "in production", "active champion deployments"),
      stat(n((d) => d.role === "challenger" || d.role === "twin"), "in shadow", "challengers and twins scoring beside the champion"),
      stat(rolls ? String(arr(rolls.rollouts).length) : "–", "rollouts running", ""),
      stat(String(machines.filter((m) => m.model).length), "machines with a champion", ""));
    if (!deps) countsBox.append(unavailable("Deployment counts", "/api/v1/deployments"));
  }

  function drawKinds(kinds, deps, machines, stats) {
    if (!kinds) { fill(kindsBox, unavailable("Model kinds", "/api/v1/models")); return; }
    const by = new Map();
    const bump = (kind, role) => { const m = by.get(kind) || {}; m[role] = (m[role] || 0) + 1; by.set(kind, m); };
    if (deps) for (const d of arr(deps.deployments).filter(active)) bump(d.kind, d.role);
    const names = new Set([...arr(kinds.models).map((k) => k.kind), ...by.keys()]);
    if (!deps) for (const m of machines) if (m.model) { bump(m.model, "champion"); names.add(m.model); }
    const km = new Map(arr(kinds.models).map((k) => [k.kind, k]));
    const promo = new Map(arr(stats && stats.promotions && stats.promotions.kinds).map((p) => [p.kind, p]));
    const promoted = (k) => {
      const p = promo.get(k);
      if (!stats) return el("td", {}, "–");
      if (!p) return el("td", { class: "sub" }, "never");
      return el("td", { "data-promoted": k, title: clock(p.at) + " on " + p.gateway + "/" + p.machine + " (" + p.status + ")" },
        ago(p.at) + (p.by ? " by " + p.by : ""), el("div", { class: "sub" }, count(p.assets) + (p.assets === 1 ? " asset" : " assets")));
    };
    fill(kindsBox, names.size ? table(["Kind", "Champion", "Twin", "Challenger", "Last promoted", "Default settings", "Updated"],
      [...names].sort().map((k) => {
        const c = by.get(k) || {};
        const reg = km.get(k);
        return el("tr", { "data-kind": k },
          el("td", {}, el("b", {}, k)), el("td", { class: "num" }, String(c.champion || 0)),
          el("td", { class: "num" }, String(c.twin || 0)), el("td", { class: "num" }, String(c.challenger || 0)), promoted(k),
          el("td", { class: "mono" }, reg ? Object.entries(reg.settings || {}).map(([a, b]) => a + "=" + b).join(" ") || "defaults" : "not registered"),
          el("td", {}, reg ? ago(reg.updated) + (reg.by ? " by " + reg.by : "") : "–"));
      })) : el("p", { class: "empty" }, "No model kinds yet."));
  }

  function drawSnapshots(snaps) {
    if (!snaps) { fill(snapsBox, unavailable("Snapshot registry", "/api/v1/snapshots")); return; }
    const list = arr(snaps.snapshots);
    if (!list.length) { fill(snapsBox, el("p", { class: "empty" }, "No snapshots stored yet.")); return; }
    const byId = new Map(list.map((s) => [s.id, s]));
    const kids = new Map();
    const roots = [];
    for (const s of list) {
      if (s.parent && byId.has(s.parent)) {
        if (!kids.has(s.parent)) kids.set(s.parent, []);
        kids.get(s.parent).push(s);
      } else roots.push(s);
    }
    const t0 = Math.min(...list.map((s) => ms(s.received)));
    const t1 = Math.max(...list.map((s) => ms(s.received)));
    const span = Math.max(1, t1 - t0);
    const rows = [];
    const seen = new Set();
    const walk = (s, depth) => {
      if (seen.has(s.id)) return;
      seen.add(s.id);
      const left = (100 * (ms(s.received) - t0)) / span;
      rows.push(el("a", { class: "snap-row" + (s.id === snapId ? " on" : ""), href: "#/models/" + enc(s.id), "data-snapshot": s.id },
        el("span", { class: "snap-name", style: { paddingLeft: depth * 14 + "px" } },
          depth ? "└ " : "", el("b", {}, s.model), " ", el("span", { class: "sub" }, (s.machine || "upload") + " · " + count(s.samples) + " samples")),
        el("span", { class: "snap-time" }, el("i", { class: "role-" + (s.role || "none"), style: { left: left.toFixed(2) + "%" }, title: clock(s.received) }))));
      for (const k of (kids.get(s.id) || []).sort((a, b) => ms(a.received) - ms(b.received))) walk(k, Math.min(depth + 1, 12));
    };
    roots.sort((a, b) => ms(a.received) - ms(b.received)).forEach((r) => walk(r, 0));
    fill(snapsBox, 
      el("div", { class: "snap-axis sub" }, el("span", {}, clock(new Date(t0).toISOString())), el("span", {}, clock(new Date(t1).toISOString()))),
      el("div", { class: "snaps" }, rows),
      el("div", { class: "legend" }, ["champion", "twin", "challenger"].map((r) => el("span", {}, el("i", { class: "role-" + r }), r))));
  }

  async function drawLineage() {
    let l;
    try { l = await optional("snapshots/" + enc(snapId) + "/lineage"); } catch (e) { fill(lineageBox, el("p", { class: "error" }, e.message)); return; }
    if (!l) { fill(lineageBox, unavailable("Lineage", "/api/v1/snapshots/{id}/lineage")); return; }
    const row = (s, rel) => el("tr", { "data-snapshot": s.id, class: rel === "this" ? "on" : "" },
      el("td", {}, rel), el("td", { class: "mono" }, el("a", { href: "#/models/" + enc(s.id) }, short(s.id, 14))),
      el("td", {}, s.model), el("td", {}, s.role || "–"), el("td", {}, (s.gateway || "–") + " / " + (s.machine || "–")),
      el("td", { class: "num" }, count(s.samples)), el("td", {}, clock(s.received)), el("td", {}, s.source));
    fill(lineageBox, table(["", "Snapshot", "Kind", "Role", "Asset", "Samples seen", "Received", "Source"], [
      ...arr(l.ancestors).slice().reverse().map((s, i, a) => row(s, "ancestor " + (a.length - i))),
      row(l.snapshot, "this"),
      ...arr(l.descendants).map((s) => row(s, "descendant"))]),
    l.missing_parent ? el("p", { class: "sub" }, "Parent " + short(l.missing_parent, 14) + " is not stored.") : null);
  }

  await Promise.all([load(), snapId ? drawLineage() : null]);
  let tick = 0;
  return { refresh: () => (++tick % 5 === 0 ? load() : null) };
}

// scoredChart draws one row of day bars per kind and role, each row
// scaled to its own busiest day, so a small challenger stays visible
// beside a fleet-wide champion.
function scoredChart(days, scored) {
  if (!scored.length) return el("p", { class: "empty" }, "No metrics in the last " + days.length + " days.");
  const col = new Map(days.map((d, i) => [d, i]));
  const rows = new Map();
  for (const d of scored) {
    const key = d.kind + "\u0000" + d.role;
    if (!rows.has(key)) rows.set(key, { kind: d.kind, role: d.role, v: new Array(days.length).fill(0), m: new Array(days.length).fill(0) });
    const i = col.get(d.day);
    if (i != null) { rows.get(key).v[i] += d.vectors; rows.get(key).m[i] = d.machines; }
  }
  const roleOrder = { champion: 0, twin: 1, challenger: 2 };
  const list = [...rows.values()].sort((a, b) => a.kind.localeCompare(b.kind) || (roleOrder[a.role] ?? 9) - (roleOrder[b.role] ?? 9));
  const W = 8, G = 2, H = 36;
  return el("div", { class: "scored" },
    el("div", { class: "scored-row scored-head sub" }, el("span", {}, "Kind · role"),
      el("span", {}, days.length ? days[0] + " … " + days[days.length - 1] : ""), el("span", { class: "num" }, "Today"), el("span", { class: "num" }, days.length + " days")),
    list.map((r) => {
      const max = Math.max(1, ...r.v);
      const total = r.v.reduce((a, b) => a + b, 0);
      return el("div", { class: "scored-row", "data-scored-kind": r.kind, "data-role": r.role },
        el("span", {}, el("b", {}, r.kind), " ", el("span", { class: "sub" }, r.role)),
        svg("svg", { class: "daybars", viewBox: "0 0 " + days.length * (W + G) + " " + H, preserveAspectRatio: "none", role: "img",
          "aria-label": r.kind + " " + r.role + ": " + count(total) + " vectors in " + days.length + " days" },
        r.v.map((v, i) => {
          const h = v ? Math.max(1.5, (H * v) / max) : 0;
          return svg("rect", { x: i * (W + G), y: H - h, width: W, height: h, "data-day": days[i], "data-vectors": v, class: "r-" + r.role },
            svg("title", {}, days[i] + ": " + v.toLocaleString() + " vectors on " + r.m[i] + " machines"));
        })),
        el("span", { class: "num", "data-today": r.v[r.v.length - 1] }, count(r.v[r.v.length - 1])),
        el("span", { class: "num", "data-total": total }, count(total)));
    }));
}

// featureBars shows, per model, its top features' mean share of the
// contributions named by its recent alerts.
function featureBars(features, alerts) {
  if (!features.length) return el("p", { class: "empty" }, "No recent alert carries feature contributions.");
  const by = new Map();
  for (const f of features) { if (!by.has(f.model)) by.set(f.model, []); by.get(f.model).push(f); }
  return el("div", { class: "feat-models" }, [...by].map(([model, fs]) =>
    el("div", { class: "feat-model", "data-features-model": model },
      el("h3", {}, model, " ", el("span", { class: "sub" }, "over " + count(alerts[model] || 0) + " alerts")),
      el("div", { class: "contrib" }, fs.map((f) =>
        el("div", { class: "crow", "data-feature": f.feature, title: f.feature + " is named by " + f.alerts + " of these alerts" },
          el("span", { class: "k" }, f.feature),
          el("div", { class: "cbar" }, el("span", { style: { width: Math.min(100, 100 * f.share).toFixed(1) + "%" } })),
          el("span", { class: "num" }, pct(f.share, 0))))))));
}

function stat(v, label, title) {
  return el("div", { class: "stat", title }, el("b", {}, v), el("span", {}, label));
}
