// Alerts: the technician inbox (works on a phone) and one alert's page:
// the scores around it, what contributed, acknowledge, resolve and label.

import { fill, arr, el, ago, clock, ms, num, level, panel, toast, unavailable } from "./dom.js";
import { get, post, optional, enc, machinePath, who, can, NotAvailable } from "./api.js";
import { ScoreChart } from "./chart.js";
import { live, coalesce, settle } from "./live.js";

const tabs = [["open", "Open"], ["acknowledged", "Acknowledged"], ["resolved", "Resolved"], ["", "All"]];
const labels = [["real_fault", "Real fault"], ["false_alarm", "False alarm"], ["unsure", "Unsure"]];
const state = { status: "open" };
const LIMIT = 200;

export function mount(view, [id], query) {
  return id ? mountOne(view, id) : mountInbox(view, query);
}

async function mountInbox(view, query) {
  const machine = query.get("machine") || "";
  const tabBar = el("div", { class: "tabs", role: "tablist" });
  const list = el("div", { class: "inbox" });
  view.append(el("h1", {}, "Alerts", machine ? el("span", { class: "sub" }, " on " + machine) : null), tabBar, list);

  function drawTabs() {
    fill(tabBar, ...tabs.map(([v, t]) => el("button", {
      type: "button", role: "tab", class: "tab" + (state.status === v ? " on" : ""), "aria-selected": String(state.status === v),
      onclick: () => { state.status = v; drawTabs(); load(); },
    }, t)));
  }

  let alerts = [];
  const draw = () => fill(list, ...(alerts.length ? alerts.map(card) : [el("p", { class: "empty" }, "Nothing here. ")]));
  async function load() {
    const q = ["limit=" + LIMIT];
    if (state.status) q.push("status=" + state.status);
    if (machine) q.push("machine=" + enc(machine));
    alerts = arr((await get("alerts?" + q.join("&"))).alerts);
    draw();
  }

  function card(a) {
    const href = "#/alerts/" + enc(a.id);
    const top = (a.contributors || []).slice().sort((x, y) => y.value - x.value)[0];
    const ack = a.status === "open" && can("technician") ? el("button", {
      type: "button", class: "small", "data-action": "ack",
      onclick: async (e) => {
        e.preventDefault();
        e.currentTarget.disabled = true;
        try { await post("alerts/" + enc(a.id) + "/ack"); toast("Acknowledged"); dispatchEvent(new Event("mw:changed")); await load(); } catch (err) { toast(err.message, true); }
      },
    }, "Acknowledge") : null;
    return el("a", { class: "card alert-card sev-" + a.severity, href, "data-alert": a.id },
      el("div", { class: "row" },
        el("b", {}, a.machine), el("span", { class: "sub" }, a.gateway),
        el("span", { class: "grow" }), a.label ? el("span", { class: "tag", "data-label-tag": a.label }, labelName(a.label)) : null,
        el("span", { class: "status " + a.status }, a.status)),
      el("div", { class: "row" },
        el("span", { class: "sev " + a.severity }, a.severity),
        el("span", { class: "num lvl-" + level(a.score, a.threshold) }, num(a.score) + " / " + num(a.threshold)),
        el("span", { class: "sub" }, ago(a.start))),
      top ? el("div", { class: "sub" }, "mostly " + top.feature) : null,
      ack ? el("div", { class: "row actions" }, ack) : null);
  }

  drawTabs();
  await load();
  // Server push: a new alert is put into the list from the event itself
  // (newest first, as the API orders them), drawn at most once a second.
  const redraw = coalesce(draw, 1000);
  const reload = settle(load, 500, 5000);
  const stream = live("events=alert", {
    alert: (a) => {
      if ((machine && a.machine !== machine) || (state.status && a.status !== state.status)) return;
      alerts = [a, ...alerts.filter((x) => x.id !== a.id)];
      alerts.sort((x, y) => ms(y.start) - ms(x.start));
      alerts.length = Math.min(alerts.length, LIMIT);
      redraw();
    },
  }, reload);
  return {
    // Pushed; polled only while the stream keeps failing. Changes made
    // elsewhere (another technician's acknowledge) are not pushed yet:
    // they show on the next reload (reconnect, tab switch, navigation).
    refresh: () => (stream.polling ? load() : null),
    dispose: () => { stream.close(); redraw.cancel(); reload.cancel(); },
  };
}

// findAlert reads one alert (GET /api/v1/alerts/{id}); null when unknown.
async function findAlert(id) {
  try {
    return await get("alerts/" + enc(id));
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

async function mountOne(view, id) {
  const head = el("div");
  const chartBox = el("div", { class: "chart", "data-chart": "alert" });
  const contrib = el("div");
  const actions = el("div", { class: "alert-actions" });
  const feedback = el("div");
  view.append(el("div", { class: "crumbs" }, el("a", { href: "#/alerts" }, "Alerts"), " › ", el("b", {}, id)), head,
    panel("Decision", actions, feedback),
    panel("Scores around the alert", chartBox),
    panel("What contributed", contrib));
  let a = await findAlert(id);
  if (!a) {
    fill(head, el("p", { class: "empty" }, "No alert with this id."));
    return {};
  }
  const chart = new ScoreChart(chartBox, { height: innerWidth < 600 ? 200 : 260 });

  function drawHead() {
    fill(head, 
      el("h1", { class: "sev-" + a.severity }, el("a", { href: "#/machine/" + enc(a.gateway) + "/" + enc(a.machine) }, a.machine),
        " ", el("span", { class: "sev " + a.severity }, a.severity)),
      el("div", { class: "facts" },
        fact("score / threshold", el("span", { class: "num lvl-" + level(a.score, a.threshold) }, num(a.score) + " / " + num(a.threshold))),
        fact("started", clock(a.start) + " (" + ago(a.start) + ")"), fact("gateway", a.gateway), fact("model", a.model),
        fact("status", el("span", { class: "status " + a.status, "data-status": a.status }, a.status)),
        a.status !== "open" ? fact("since", clock(a.status_time)) : null),
      a.message ? el("p", {}, a.message) : null);
  }

  async function act(path, body, done) {
    try {
      const r = await post("alerts/" + enc(id) + "/" + path, body);
      if (r && r.id === id) a = r;
      else a = (await findAlert(id, a)) || a;
      toast(done);
      dispatchEvent(new Event("mw:changed"));
      drawHead();
      drawActions();
      await loadFeedback();
    } catch (e) {
      if (e instanceof NotAvailable) toast(path + " is not available on this hub yet", true);
      else toast(e.message, true);
    }
  }

  function drawActions() {
    if (!can("technician")) { fill(actions, el("p", { class: "sub", "data-needs": "technician" }, "A technician acknowledges, resolves and labels alerts.")); return; }
    fill(actions, 
      el("button", { type: "button", "data-action": "ack", disabled: a.status !== "open", onclick: () => act("ack", {}, "Acknowledged") }, "Acknowledge"),
      el("button", { type: "button", "data-action": "resolve", class: "secondary", disabled: a.status === "resolved",
        onclick: () => act("resolve", { by: who() }, "Resolved") }, "Resolve"));
  }

  let chosen = "";
  async function loadFeedback() {
    const f = await optional("alerts/" + enc(id) + "/feedback");
    const list = f ? arr(f.feedback) : [];
    const latest = list.length ? list[list.length - 1] : null;
    const note = el("textarea", { rows: 2, placeholder: "What did you find? (optional)", "aria-label": "note" });
    const choices = el("div", { class: "choices", role: "radiogroup", "aria-label": "label" });
    const drawChoices = () => fill(choices, ...labels.map(([v, t]) => el("button", {
      type: "button", role: "radio", class: "choice " + v + (chosen === v ? " on" : ""), "aria-checked": String(chosen === v),
      "data-label": v, onclick: () => { chosen = v; drawChoices(); },
    }, t)));
    if (!chosen && latest) chosen = latest.label;
    drawChoices();
    fill(feedback, 
      el("h3", {}, "Label"),
      can("technician") && choices, can("technician") && note,
      el("div", { class: "row" },
        can("technician") && el("button", { type: "button", "data-action": "label", onclick: () => {
          if (!chosen) { toast("Pick a label first", true); return; }
          act("feedback", { label: chosen, note: note.value.trim(), by: who() }, "Label saved");
        } }, "Save label"),
        can("technician") && el("span", { class: "sub" }, who() ? "as " + who() : "set your name at the top")),
      list.length ? el("ul", { class: "history" }, list.slice().reverse().map((x) => el("li", { "data-feedback": x.label },
        el("b", {}, labels.find(([v]) => v === x.label)?.[1] || x.label), " ", x.note ? "— " + x.note + " " : "",
        el("span", { class: "sub" }, (x.who ? x.who + ", " : "") + ago(x.time))))) : null,
      f === null ? unavailable("Labels", "/api/v1/alerts/{id}/feedback") : null);
  }

  async function loadChart() {
    const start = ms(a.start);
    const from = new Date(start - 30 * 60 * 1000).toISOString();
    const pts = await get(machinePath(a.gateway, a.machine) + "/metrics?since=" + enc(from) + "&limit=5000");
    const around = arr(pts.points).filter((p) => ms(p.time) <= start + 30 * 60 * 1000);
    if (!around.length) { fill(chartBox, el("p", { class: "empty" }, "No metrics around this alert.")); return; }
    await chart.update(around, [a], "score_max");
    const first = ms(around[0].time), last = ms(around[around.length - 1].time);
    if (start < first || start > last) {
      chartBox.after(el("p", { class: "sub" }, "The alert's start lies outside the metrics shown: the agent's event clock and its metrics disagree."));
    }
  }

  function drawContrib() {
    const cs = (a.contributors || []).slice().sort((x, y) => y.value - x.value);
    if (!cs.length) { fill(contrib, el("p", { class: "empty" }, "The model named no contributors.")); return; }
    const max = Math.max(...cs.map((c) => Math.abs(c.value))) || 1;
    fill(contrib, el("div", { class: "contrib" }, cs.map((c) => el("div", { class: "crow" },
      el("span", { class: "k" }, c.feature),
      el("span", { class: "cbar" }, el("span", { style: { width: (100 * Math.abs(c.value) / max).toFixed(1) + "%" } })),
      el("span", { class: "num" }, num(c.value))))));
  }

  drawHead();
  drawActions();
  drawContrib();
  await Promise.all([loadFeedback(), loadChart()]);
  return {
    refresh: async () => { a = (await findAlert(id, a)) || a; drawHead(); drawActions(); },
    dispose: () => chart.dispose(),
  };
}

function labelName(v) {
  return (labels.find(([x]) => x === v) || [v, v])[1];
}

function fact(k, v) {
  return v == null ? null : el("div", { class: "fact" }, el("span", { class: "k" }, k), el("span", { class: "v" }, v));
}
