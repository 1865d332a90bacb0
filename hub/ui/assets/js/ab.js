// A/B comparison: one asset's models side by side with their score
// distributions and verdicts (and Promote), or the fleet rolled up by
// machine type or site; the rollouts list below.

import { fill, arr, el, dur, num, pct, count, panel, table, unavailable, confirmDialog, toast, svg } from "./dom.js";
import { get, post, optional, enc, machinePath, NotAvailable, can } from "./api.js";
import { histogram, binsOf, colors } from "./chart.js";
import { rolloutsPanel } from "./rollouts.js";

const periods = [["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]];
const pref = { since: "30d", group: "type" };
export const outcomeText = { better: "better", worse: "worse", no_difference: "no difference", insufficient_evidence: "not enough evidence" };

export function mount(view, [gw, id]) {
  return gw ? mountAsset(view, gw, id) : mountFleet(view);
}

function periodSelect(onchange) {
  const s = el("select", { "aria-label": "period" }, periods.map(([v, t]) => el("option", { value: v }, "last " + t)));
  s.value = pref.since;
  s.addEventListener("change", () => { pref.since = s.value; onchange(); });
  return s;
}

// verdictView shows an outcome with its evidence: discordant wins and
// losses, the McNemar mid-p, and the cost difference's interval drawn
// against zero.
export function verdictView(v) {
  if (!v) return el("span", { class: "sub" }, "reference");
  const ci = v.cost_diff || {};
  const lo = Math.min(ci.low ?? 0, 0), hi = Math.max(ci.high ?? 0, 0);
  const span = Math.max(1e-12, hi - lo) * 1.1;
  const x = (val) => 8 + (184 * (val - lo + span * 0.05)) / span;
  const plot = ci.blocks && ci.high > ci.low ? svg("svg", { viewBox: "0 0 200 22", class: "ci", role: "img", "aria-label": "cost difference interval" },
    svg("line", { x1: x(0), x2: x(0), y1: 2, y2: 20, class: "zero" }),
    svg("line", { x1: x(ci.low), x2: x(ci.high), y1: 11, y2: 11, class: "range" }),
    svg("circle", { cx: x(ci.mean), cy: 11, r: 4, class: "mean" })) : null;
  return el("div", { class: "verdict v-" + v.outcome, "data-verdict": v.outcome },
    el("b", {}, outcomeText[v.outcome] || v.outcome),
    el("div", { class: "sub" }, v.reason),
    el("div", { class: "sub" }, `wins ${v.wins} · losses ${v.losses} · mid-p ${num(v.p_mid)} · ${num(v.machine_days, 1)} machine-days`),
    plot,
    ci.blocks ? el("div", { class: "sub" }, `errs less by ${num(ci.mean, 4)} per vector, ${Math.round((ci.level || 0.95) * 100)}% interval [${num(ci.low, 4)}, ${num(ci.high, 4)}]`) : null);
}

async function mountAsset(view, gw, id) {
  const box = el("div");
  const hist = el("div", { class: "hists" });
  const sel = periodSelect(() => load());
  view.append(
    el("div", { class: "crumbs" }, el("a", { href: "#/ab" }, "A/B"), " › ", el("a", { href: "#/machine/" + enc(gw) + "/" + enc(id) }, gw + " / " + id)),
    el("h1", {}, "A/B comparison: " + id),
    el("div", { class: "toolbar" }, sel),
    panel("Score distributions", hist), box);

  async function load() {
    const [rep, deps, pts] = await Promise.all([
      optional("compare/" + enc(gw) + "/" + enc(id) + "?since=" + pref.since),
      optional("deployments?gateway=" + enc(gw) + "&machine=" + enc(id) + "&active=true"),
      get(machinePath(gw, id) + "/metrics?since=" + (pref.since === "7d" ? "168h" : "24h") + "&limit=10000")]);
    drawHists(pts.points);
    if (!rep) { fill(box, unavailable("A/B comparison", "/api/v1/compare/{gw}/{machine}")); return; }
    const models = arr(rep.models);
    if (!models.length) { fill(box, el("p", { class: "empty" }, "No model has scored this machine in the period.")); return; }
    const depOf = (m) => deps && arr(deps.deployments).find((d) => d.name === m.model && d.role === m.role);
    const rows = [
      ["Role", (m) => el("span", { class: "role " + m.role }, m.role)],
      ["Kind", (m) => m.kind || "–"],
      ["Vectors scored", (m) => count(m.vectors)],
      ["Alarms", (m) => count(m.alerts)],
      ["Alarm rate", (m) => pct(m.alarm_rate, 2)],
      ["Agreement with champion", (m) => pct(m.agreement)],
      ["Faults detected", (m) => `${m.detected} / ${m.faults}`],
      ["Mean lead", (m) => (m.mean_lead_ns ? dur(m.mean_lead_ns / 1e6) : "–")],
      ["False alarms / day", (m) => num(m.false_alarms_per_day, 2)],
      ["Precision", (m) => num(m.precision, 2)],
      ["Recall", (m) => num(m.recall, 2)],
      ["F1", (m) => num(m.f1, 2)],
      ["NAB score", (m) => num(m.nab && m.nab.standard, 1)],
      ["Machine-days", (m) => num(m.machine_days, 1)],
      ["Verdict vs champion", (m) => verdictView(m.verdict)],
      ["", (m) => {
        if (m.role === "champion") return el("span", { class: "sub" }, "in production");
        if (!can("operator")) return el("span", { class: "sub", "data-needs": "operator" }, "an operator promotes");
        const d = depOf(m);
        if (!d) return el("span", { class: "sub" }, deps ? "no active deployment" : "deployments not available");
        return el("button", { type: "button", "data-action": "promote", "data-deployment": d.id, onclick: () => promote(m, d) }, "Promote…");
      }],
    ];
    fill(box, panel("Models side by side",
      el("p", { class: "sub" }, `${rep.faults} confirmed faults, ${rep.labeled} labelled alerts in the period.`),
      el("div", { class: "tablewrap scroll-x" }, el("table", { class: "side" },
        el("thead", {}, el("tr", {}, el("th", {}, ""), models.map((m) => el("th", { "data-model": m.model }, m.model)))),
        el("tbody", {}, rows.map(([label, f]) => el("tr", {}, el("th", {}, label), models.map((m) => el("td", {}, f(m))))))))));
  }

  function drawHists(points) {
    const groups = new Map();
    let thr = 0;
    for (const p of points) {
      const k = p.model + " (" + p.role + ")";
      if (!groups.has(k)) groups.set(k, { label: k, role: p.role, vals: [], bins: null });
      const g = groups.get(k);
      if (Array.isArray(p.hist) && p.hist.length) g.bins = g.bins ? g.bins.map((b, i) => b + (p.hist[i] || 0)) : p.hist.slice();
      else g.vals.push(p.score_mean);
      if (p.role === "champion" && p.threshold) thr = p.threshold;
    }
    if (!groups.size) { fill(hist, el("p", { class: "empty" }, "No scores to draw.")); return; }
    const rank = { champion: 0, twin: 1, challenger: 2 };
    const gs = [...groups.values()].sort((a, b) => (rank[a.role] ?? 3) - (rank[b.role] ?? 3) || a.label.localeCompare(b.label));
    const palette = colors(gs);
    const hs = gs.map((g, i) => ({ label: g.label, color: palette[i], bins: g.bins || binsOf(g.vals), exact: !!g.bins }));
    fill(hist, 
      histogram(hs, { width: 560, height: 170, threshold: thr }),
      el("div", { class: "legend" }, hs.map((h) => el("span", {}, el("i", { style: { background: h.color } }), h.label))),
      hs.some((h) => !h.exact) ? el("p", { class: "sub" }, "Distributions of interval mean scores (the API sends no per-interval histograms).") : null);
  }

  async function promote(m, d) {
    const ok = await confirmDialog("Promote " + m.model + "?",
      el("div", {}, el("p", {}, `Make ${m.model} (${m.kind || d.kind}, now ${m.role}) the champion of ${gw} / ${id}. `
        + "The current champion is kept as the rollback target; the rollout watches its health gates."),
        m.verdict ? verdictView(m.verdict) : null), "Promote");
    if (!ok) return;
    try {
      const ro = await post("promotions", { deployment: d.id, reason: "promoted from the A/B view" });
      toast("Promotion started");
      location.hash = "#/rollouts/" + enc(ro.id);
    } catch (e) {
      toast(e instanceof NotAvailable ? "Promotion is not available on this hub yet" : e.message, true);
    }
  }

  await load();
  let tick = 0;
  return { refresh: () => (++tick % 10 === 0 ? load() : null) };
}

async function mountFleet(view) {
  const groupSel = el("select", { "aria-label": "group by" }, el("option", { value: "type" }, "by machine type"), el("option", { value: "site" }, "by site"));
  groupSel.value = pref.group;
  const sel = periodSelect(() => load());
  const box = el("div");
  const picker = el("input", { type: "search", list: "ab-machines", placeholder: "Compare one machine…", "aria-label": "machine", class: "grow" });
  const dl = el("datalist", { id: "ab-machines" });
  const rolls = el("div");
  view.append(el("h1", {}, "A/B comparison"),
    el("div", { class: "toolbar" }, groupSel, sel, picker, dl), box, rolls);
  groupSel.addEventListener("change", () => { pref.group = groupSel.value; load(); });
  picker.addEventListener("change", () => {
    const [g, m] = picker.value.split(" / ");
    if (g && m) location.hash = "#/ab/" + enc(g) + "/" + enc(m);
  });

  async function load() {
    const [rep, ms_] = await Promise.all([optional("compare?group=" + pref.group + "&since=" + pref.since), get("machines")]);
    fill(dl, ...ms_.machines.slice(0, 2000).map((m) => el("option", { value: m.gateway + " / " + m.id })));
    if (!rep) { fill(box, unavailable("Rolled-up comparison", "/api/v1/compare")); return; }
    const groups = arr(rep.groups);
    const rank = { champion: 0, twin: 1, challenger: 2 };
    fill(box, ...(groups.length ? groups.map((g) => panel((pref.group === "type" ? "Type " : "Site ") + (g.group || "–") + " · " + arr(g.assets).length + " assets",
      el("div", { class: "assets" }, arr(g.assets).slice(0, 30).map((a) => {
        const [gw, m] = a.split("/");
        return el("a", { href: "#/ab/" + enc(gw) + "/" + enc(m) }, a);
      }), arr(g.assets).length > 30 ? el("span", { class: "sub" }, "…") : null),
      !arr(g.kinds).length ? el("p", { class: "empty" }, "No model has scored these assets in the period.") :
      table(["Role", "Kind", "Assets", "Vectors", "Alarms", "Faults detected", "False alarms / day", "F1", "Verdict", ""],
        arr(g.kinds).slice().sort((a, b) => (rank[a.role] ?? 3) - (rank[b.role] ?? 3) || (a.kind < b.kind ? -1 : 1)).map((k) => el("tr", { "data-kind": k.kind },
          el("td", {}, el("span", { class: "role " + k.role }, k.role)), el("td", {}, k.kind), el("td", { class: "num" }, String(k.assets)),
          el("td", { class: "num" }, count(k.vectors)), el("td", { class: "num" }, count(k.alerts)),
          el("td", { class: "num" }, `${k.detected} / ${k.faults}`), el("td", { class: "num" }, num(k.false_alarms_per_day, 2)),
          el("td", { class: "num" }, num(k.f1, 2)), el("td", {}, verdictView(k.verdict)),
          el("td", {}, pref.group === "type" && k.role !== "champion" && g.group && can("operator") ? el("button", {
            type: "button", class: "secondary small", "data-action": "rollout", "data-kind": k.kind,
            onclick: () => rollOut(k, g.group, arr(g.assets).length),
          }, "Roll out…") : null))))))
      : [el("p", { class: "empty" }, "Nothing to compare yet: no challenger has run.")]));
  }

  async function rollOut(k, type, assets) {
    const ok = await confirmDialog(`Roll ${k.kind} out to every ${type}?`,
      el("div", {}, el("p", {}, `${k.kind} becomes champion on all ${assets} assets of type ${type} in stages (a canary gateway, then half, then all). `
        + "Each stage soaks under the health gates; a failing gate rolls every touched asset back."), verdictView(k.verdict)), "Start rollout");
    if (!ok) return;
    try {
      const ro = await post("promotions", { kind: k.kind, machine_type: type, reason: "rolled out from the A/B view" });
      toast("Rollout started");
      location.hash = "#/rollouts/" + enc(ro.id);
    } catch (e) {
      toast(e instanceof NotAvailable ? "Rollouts are not available on this hub yet" : e.message, true);
    }
  }

  await Promise.all([load(), rolloutsPanel(rolls)]);
  let tick = 0;
  return { refresh: () => (++tick % 5 === 0 ? Promise.all([load(), rolloutsPanel(rolls)]) : null) };
}
