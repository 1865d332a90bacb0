// Rollouts: staged changes of champion, their health gates, assets and
// history, with Roll back.

import { fill, arr, el, ago, clock, dur, pct, panel, table, unavailable, confirmDialog, toast } from "./dom.js";
import { get, post, optional, enc, can, NotAvailable } from "./api.js";

const live = (r) => r.status === "running" || r.status === "completed";

// rolloutsPanel fills box with the list of rollouts, newest first.
export async function rolloutsPanel(box) {
  const rs = await optional("rollouts");
  if (!rs) { fill(box, panel("Rollouts", unavailable("Rollouts", "/api/v1/rollouts"))); return; }
  const list = arr(rs.rollouts).slice().sort((a, b) => Date.parse(b.created) - Date.parse(a.created));
  fill(box, panel("Rollouts", list.length ? table(["Rollout", "Model", "Status", "Stage", "Assets", "Started"],
    list.map((r) => el("tr", { "data-rollout": r.id },
      el("td", {}, el("a", { href: "#/rollouts/" + enc(r.id) }, r.id)),
      el("td", {}, r.name || r.kind, el("div", { class: "sub" }, r.kind + (r.machine_type ? " on " + r.machine_type : ""))),
      el("td", {}, el("span", { class: "status ro-" + r.status }, r.status)),
      el("td", {}, stageText(r)),
      el("td", { class: "num" }, String(arr(r.assets).length)),
      el("td", {}, ago(r.created) + (r.by ? " by " + r.by : ""))))) : el("p", { class: "empty" }, "No rollout yet.")));
}

function stageText(r) {
  const s = arr(r.stages)[r.stage];
  return s ? `${r.stage + 1} of ${arr(r.stages).length}: ${s.name}` : "–";
}

export async function mount(view, [id]) {
  if (!id) {
    const box = el("div");
    view.append(el("h1", {}, "Rollouts"), box);
    await rolloutsPanel(box);
    return { refresh: () => rolloutsPanel(box) };
  }
  const box = el("div");
  view.append(el("div", { class: "crumbs" }, el("a", { href: "#/ab" }, "A/B"), " › rollout ", el("b", {}, id)), box);

  async function load() {
    let r;
    try {
      r = await get("rollouts/" + enc(id));
    } catch (e) {
      fill(box, e instanceof NotAvailable ? unavailable("Rollouts", "/api/v1/rollouts/{id}") : el("p", { class: "error" }, e.message));
      return;
    }
    draw(r);
  }

  function draw(r) {
    const steps = el("ol", { class: "steps" }, arr(r.stages).map((s, i) => el("li", {
      class: i < r.stage || (i === r.stage && r.status === "completed") ? "done" : i === r.stage ? (r.status === "running" ? "now" : "stopped") : "",
    }, el("b", {}, s.name), el("span", { class: "sub" }, arr(s.gateways).length + " gateways"))));
    const g = r.gates || {};
    const soakLeft = r.status === "running" ? r.soak_ns / 1e6 - (Date.now() - Date.parse(r.stage_started)) : 0;
    const back = live(r) && can("operator") ? el("button", { type: "button", class: "danger", "data-action": "rollback", onclick: () => rollback(r) }, "Roll back") : null;
    fill(box, 
      el("h1", {}, "Rollout of ", r.name || r.kind, " ", el("span", { class: "status ro-" + r.status, "data-status": r.status }, r.status)),
      el("div", { class: "facts" },
        fact("kind", r.kind), fact("machine type", r.machine_type || "–"), fact("started", clock(r.created) + (r.by ? " by " + r.by : "")),
        fact("reason", r.reason || "–"), fact("stage soak", dur(r.soak_ns / 1e6) + (soakLeft > 0 ? ", " + dur(soakLeft) + " left" : "")),
        r.promoted_from ? fact("promoted from", r.promoted_from) : null),
      r.failure ? el("p", { class: "error" }, "Stopped: " + r.failure) : null,
      el("div", { class: "row" }, back),
      panel("Stages", steps),
      panel("Health gates", el("ul", { class: "gates" },
        el("li", {}, `alert rate at most ${g.alert_rate_factor}× the old champion's (and ${pct(g.alert_rate_min_jump)} more) after ${g.min_vectors} vectors`),
        el("li", {}, `no silence over ${dur((g.silence_ns || 0) / 1e6)} after the change`),
        el("li", {}, g.ignore_refusals ? "refusals ignored" : "any refusal by an agent stops the rollout"))),
      panel("Assets", table(["Asset", "Stage", "Status", "Alert rate", "Baseline", "Note"],
        arr(r.assets).map((a) => el("tr", { "data-asset": a.gateway + "/" + a.machine, class: "as-" + a.status },
          el("td", {}, el("a", { href: "#/machine/" + enc(a.gateway) + "/" + enc(a.machine) }, a.gateway + " / " + a.machine)),
          el("td", {}, arr(r.stages)[a.stage] ? r.stages[a.stage].name : String(a.stage)),
          el("td", {}, el("span", { class: "status as-" + a.status }, a.status)),
          el("td", { class: "num" }, pct(a.alert_rate, 2)), el("td", { class: "num" }, pct(a.baseline_alert_rate, 2)),
          el("td", {}, a.note || ""))))),
      panel("History", el("ul", { class: "history" }, arr(r.history).slice().reverse().map((h) =>
        el("li", {}, el("span", { class: "sub" }, clock(h.time)), " ", el("b", {}, h.action), h.detail ? " — " + h.detail : "")))));
  }

  async function rollback(r) {
    const reason = el("input", { placeholder: "why (optional)", "aria-label": "reason", class: "grow" });
    const ok = await confirmDialog("Roll back " + (r.name || r.kind) + "?",
      el("div", {}, el("p", {}, `Every asset this rollout touched (${arr(r.assets).length}) goes back to its previous champion.`), reason), "Roll back");
    if (!ok) return;
    try {
      const nr = await post("rollouts/" + enc(r.id) + "/rollback", { reason: reason.value.trim() });
      toast("Rolled back");
      draw(nr);
    } catch (e) {
      toast(e.message, true);
    }
  }

  await load();
  return { refresh: load };
}

function fact(k, v) {
  return el("div", { class: "fact" }, el("span", { class: "k" }, k), el("span", { class: "v" }, v));
}
