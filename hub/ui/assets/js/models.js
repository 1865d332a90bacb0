// Models: what runs where (production, shadow, rollout), the registered
// kinds, and the snapshot registry as a lineage tree on a time axis.

import { auditTable, fill, arr, el, ago, clock, ms, count, panel, table, unavailable, short } from "./dom.js";
import { get, optional, enc } from "./api.js";

const active = (d) => d.status === "acked" || d.status === "pending";

export async function mount(view, [snapId]) {
  const countsBox = el("div", { class: "stats" });
  const kindsBox = el("div");
  const lineageBox = el("div");
  const snapsBox = el("div");
  const auditBox = el("div");
  view.append(el("h1", {}, "Models"), countsBox,
    snapId ? panel("Lineage of " + short(snapId, 16), lineageBox) : null,
    panel("Snapshots: lineage over time", snapsBox),
    panel("Kinds", kindsBox),
    panel("Recent changes", auditBox));

  async function load() {
    const [deps, rolls, kinds, snaps, machines, audit] = await Promise.all([
      optional("deployments?active=true&limit=5000"), optional("rollouts?status=running"),
      optional("models"), optional("snapshots?limit=300"), get("machines"), optional("audit?limit=25")]);
    fill(auditBox, audit ? auditTable(audit.entries) : unavailable("Change log", "/api/v1/audit"));
    drawCounts(deps, rolls, machines.machines);
    drawKinds(kinds, deps, machines.machines);
    drawSnapshots(snaps);
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

  function drawKinds(kinds, deps, machines) {
    if (!kinds) { fill(kindsBox, unavailable("Model kinds", "/api/v1/models")); return; }
    const by = new Map();
    const bump = (kind, role) => { const m = by.get(kind) || {}; m[role] = (m[role] || 0) + 1; by.set(kind, m); };
    if (deps) for (const d of arr(deps.deployments).filter(active)) bump(d.kind, d.role);
    const names = new Set([...arr(kinds.models).map((k) => k.kind), ...by.keys()]);
    if (!deps) for (const m of machines) if (m.model) { bump(m.model, "champion"); names.add(m.model); }
    const km = new Map(arr(kinds.models).map((k) => [k.kind, k]));
    fill(kindsBox, names.size ? table(["Kind", "Champion", "Twin", "Challenger", "Default settings", "Updated"],
      [...names].sort().map((k) => {
        const c = by.get(k) || {};
        const reg = km.get(k);
        return el("tr", { "data-kind": k },
          el("td", {}, el("b", {}, k)), el("td", { class: "num" }, String(c.champion || 0)),
          el("td", { class: "num" }, String(c.twin || 0)), el("td", { class: "num" }, String(c.challenger || 0)),
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

function stat(v, label, title) {
  return el("div", { class: "stat", title }, el("b", {}, v), el("span", {}, label));
}
