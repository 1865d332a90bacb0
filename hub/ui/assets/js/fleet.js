// Fleet: sites → lines → gateways → machines, with a heat map of every
// machine's latest champion score against its threshold on top.

import { fill, arr, el, ago, dur, ms, num, level, panel } from "./dom.js";
import { get, enc } from "./api.js";
import { live, coalesce, settle } from "./live.js";

const STALE_MS = 5 * 60 * 1000; // silent this long while the gateway is online
const PAGE = 200; // rows drawn at once; more on demand
const state = { q: "", status: "", site: "", sort: "place", shown: PAGE }; // kept across visits

const statusOf = (m, gw) => {
  if (gw && !gw.online) return "offline";
  if (m.open_alerts > 0) return "alerting";
  if (Date.now() - ms(m.last_seen) > STALE_MS) return "stale";
  if (m.score == null) return "nodata";
  return "online";
};
const statusText = { online: "online", alerting: "alerting", offline: "offline", stale: "silent", nodata: "no data" };

const levelColor = { ok: "#2e9d5b", warn: "#d89b00", bad: "#d23c3c", none: "#c5cad3" };

export async function mount(view) {
  let data = null; // {machines, gws}
  let tick = 0;

  const search = el("input", { type: "search", placeholder: "Search machine, type, gateway, model…", "aria-label": "search", value: state.q, class: "grow" });
  const statusSel = el("select", { "aria-label": "status" },
    el("option", { value: "" }, "any status"),
    ...Object.entries(statusText).map(([k, v]) => el("option", { value: k }, v)));
  statusSel.value = state.status;
  const siteSel = el("select", { "aria-label": "site" }, el("option", { value: "" }, "all sites"));
  const sortSel = el("select", { "aria-label": "order" }, el("option", { value: "place" }, "by site and line"), el("option", { value: "worst" }, "worst first"));
  sortSel.value = state.sort;
  const counts = el("div", { class: "counts" });
  const heat = el("canvas", { class: "heat", height: 40, "aria-label": "fleet heat map: one cell per machine, coloured by score against threshold" });
  const heatTip = el("div", { class: "heat-tip" });
  const list = el("div", { class: "fleet-list" });
  view.append(
    el("div", { class: "toolbar" }, search, statusSel, siteSel, sortSel),
    counts,
    panel("Scores against thresholds", el("div", { class: "heatwrap" }, heat, heatTip),
      el("div", { class: "legend" }, ...["ok", "warn", "bad", "none"].map((l) =>
        el("span", {}, el("i", { style: { background: levelColor[l] } }), { ok: "well below", warn: "near threshold", bad: "above", none: "no score" }[l])),
        el("span", {}, el("i", { class: "corner" }), "open alert"), el("span", {}, el("i", { style: { background: "#9aa1af" } }), "offline or silent"))),
    list);

  let cells = []; // machines in heat-map order
  // badness orders "worst first": open alerts, then score over threshold.
  const badness = (m) => (m.open_alerts > 0 ? 10 : 0) + (m.score == null ? -1 : m.score / (m.threshold > 0 ? m.threshold : 1));
  const filtered = () => {
    const q = state.q.toLowerCase();
    const out = data.machines.filter((m) => {
      if (state.site && (m.site || "") !== state.site) return false;
      if (state.status && m._status !== state.status) return false;
      return !q || m._text.includes(q);
    });
    if (state.sort === "worst") out.sort((a, b) => badness(b) - badness(a));
    return out;
  };

  function drawHeat(ms_) {
    cells = ms_;
    const w = heat.parentElement.clientWidth || 600;
    const n = Math.max(1, ms_.length);
    const size = Math.max(4, Math.min(18, Math.floor(Math.sqrt((w * 120) / n))));
    const perRow = Math.max(1, Math.floor(w / size));
    const rows = Math.ceil(n / perRow);
    const dpr = devicePixelRatio || 1;
    heat.width = w * dpr;
    heat.height = rows * size * dpr;
    heat.style.width = w + "px";
    heat.style.height = rows * size + "px";
    heat._geom = { size, perRow };
    const ctx = heat.getContext("2d");
    ctx.scale(dpr, dpr);
    ms_.forEach((m, i) => {
      const x = (i % perRow) * size, y = Math.floor(i / perRow) * size;
      ctx.fillStyle = m._status === "offline" || m._status === "stale" ? "#9aa1af" : levelColor[level(m.score, m.threshold)];
      ctx.fillRect(x, y, size - 1, size - 1);
      if (m.open_alerts > 0 && size >= 6) { // an open alert: a dark red corner
        ctx.fillStyle = "#8b1a1a";
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.lineTo(x + (size - 1) * 0.6, y);
        ctx.lineTo(x, y + (size - 1) * 0.6);
        ctx.fill();
      }
    });
  }
  const cellAt = (e) => {
    const g = heat._geom;
    if (!g) return null;
    const r = heat.getBoundingClientRect();
    const i = Math.floor((e.clientY - r.top) / g.size) * g.perRow + Math.floor((e.clientX - r.left) / g.size);
    return cells[i] || null;
  };
  heat.addEventListener("mousemove", (e) => {
    const m = cellAt(e);
    heatTip.textContent = m ? `${m.gateway} / ${m.id} · ${statusText[m._status]} · score ${num(m.score)} / ${num(m.threshold)}` : "";
  });
  heat.addEventListener("click", (e) => {
    const m = cellAt(e);
    if (m) location.hash = "#/machine/" + enc(m.gateway) + "/" + enc(m.id);
  });

  function row(m) {
    const lvl = level(m.score, m.threshold);
    const thr = m.threshold > 0 ? m.threshold : 1;
    const width = m.score == null ? 0 : Math.min(100, (100 * m.score) / (thr / 0.8));
    const href = "#/machine/" + enc(m.gateway) + "/" + enc(m.id);
    return el("tr", { "data-machine": m.id, "data-gateway": m.gateway, class: "st-" + m._status },
      el("td", {}, el("a", { href, class: "mid" }, m.id),
        el("div", { class: "sub" }, [m.type, state.sort === "place" ? "" : m.gateway + (m.site ? " · site " + m.site : "")].filter(Boolean).join(" · "))),
      el("td", {}, el("span", { class: "dot st-" + m._status }), statusText[m._status],
        el("div", { class: "sub" }, "seen " + ago(m.last_seen))),
      el("td", { class: "scorecell" },
        el("span", { class: "num lvl-" + lvl }, num(m.score)),
        el("div", { class: "bar" }, el("span", { class: "lvl-" + lvl, style: { width: width.toFixed(1) + "%" } }),
          m.threshold > 0 ? el("i", { style: { left: "80%" } }) : null),
        el("div", { class: "sub" }, "threshold " + num(m.threshold))),
      el("td", {}, m.open_alerts > 0 ? el("a", { class: "badge", href: "#/alerts?machine=" + enc(m.id) }, m.open_alerts + " open") : el("span", { class: "sub" }, "no alerts")),
      el("td", {}, m.model || "–", el("div", { class: "sub", "data-champion-age": "" }, m.champion_since ? "since " + dur(Date.now() - ms(m.champion_since)) : "")));
  }

  function render() {
    performance.mark("fleet:render"); // the browser tests count redraws
    const ms_ = filtered();
    const bySt = {};
    for (const m of data.machines) bySt[m._status] = (bySt[m._status] || 0) + 1;
    fill(counts, 
      el("span", {}, el("b", {}, String(data.machines.length)), " machines"),
      ...Object.keys(statusText).filter((k) => bySt[k]).map((k) =>
        el("button", { type: "button", class: "chip st-" + k + (state.status === k ? " on" : ""), onclick: () => { state.status = state.status === k ? "" : k; statusSel.value = state.status; state.shown = PAGE; render(); } },
          el("span", { class: "dot st-" + k }), `${bySt[k]} ${statusText[k]}`)),
      el("span", { class: "muted" }, ms_.length === data.machines.length ? "" : `${ms_.length} shown by filter`));
    drawHeat(ms_);
    if (!data.machines.length) {
      fill(list, el("p", { class: "empty" }, "No machine has reported yet."));
      return;
    }
    const rows = [];
    let last = "";
    for (const m of ms_.slice(0, state.shown)) {
      const g = data.gws.get(m.gateway);
      const key = (m.site || "") + "\u0000" + (m.line || "") + "\u0000" + m.gateway;
      if (key !== last && state.sort === "place") {
        last = key;
        rows.push(el("tr", { class: "group", "data-group-gateway": m.gateway },
          el("th", { colspan: 5 },
            m.site || m.line ? [el("span", { class: "crumb" }, "site " + (m.site || "–")), " › ",
              el("span", { class: "crumb" }, "line " + (m.line || "–")), " › "] : null,
            el("span", { class: "crumb gw" }, m.gateway), " ",
            g ? el("span", { class: "pill " + (g.online ? "online" : "offline") }, g.online ? "online" : "offline") : null,
            g ? el("span", { class: "sub" }, " last seen " + ago(g.last_seen) + (g.agent_version ? " · agent " + g.agent_version : "")) : null)));
      }
      rows.push(row(m));
    }
    const more = ms_.length - state.shown;
    fill(list, 
      el("div", { class: "tablewrap" }, el("table", { class: "fleet" },
        el("thead", {}, el("tr", {}, el("th", {}, "Machine"), el("th", {}, "Status"), el("th", {}, "Champion score"), el("th", {}, "Open alerts"), el("th", {}, "Champion model"))),
        el("tbody", {}, rows))),
      more > 0 ? el("button", { type: "button", class: "secondary more", onclick: () => { state.shown += PAGE * 5; render(); } }, `Show ${Math.min(more, PAGE * 5)} more of ${more}`) : null);
  }

  async function load() {
    const [ms_, gws] = await Promise.all([get("machines"), get("gateways")]);
    performance.mark("fleet:fetched");
    const gmap = new Map(arr(gws.gateways).map((g) => [g.id, g]));
    for (const m of ms_.machines) {
      m._status = statusOf(m, gmap.get(m.gateway));
      m._text = [m.id, m.gateway, m.type, m.model, m.site, m.line].join(" ").toLowerCase();
    }
    const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0); // code-point order: fast on 5,000 machines
    ms_.machines.sort((a, b) => cmp(a.site || "", b.site || "") || cmp(a.line || "", b.line || "") ||
      cmp(a.gateway, b.gateway) || cmp(a.id, b.id));
    data = { machines: ms_.machines, gws: gmap, byKey: new Map(ms_.machines.map((m) => [m.gateway + "\u0000" + m.id, m])) };
    const sites = [...new Set(ms_.machines.map((m) => m.site || ""))].sort();
    if (siteSel.options.length !== sites.length + 1) {
      fill(siteSel, el("option", { value: "" }, "all sites"), ...sites.map((s) => el("option", { value: s }, s ? "site " + s : "no site")));
      siteSel.value = state.site;
    }
    performance.mark("fleet:prepared");
    render();
    performance.mark("fleet:rendered");
  }

  let debounce = 0;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { state.q = search.value.trim(); state.shown = PAGE; render(); }, 120);
  });
  statusSel.addEventListener("change", () => { state.status = statusSel.value; state.shown = PAGE; render(); });
  siteSel.addEventListener("change", () => { state.site = siteSel.value; state.shown = PAGE; render(); });
  sortSel.addEventListener("change", () => { state.sort = sortSel.value; state.shown = PAGE; render(); });

  await load();

  // Server push: metrics move a machine's score and last-seen, a new alert
  // its open-alert count. Events only patch data; drawing is coalesced to
  // at most once a second, so a burst from 5,000 machines draws once.
  const redraw = coalesce(render, 1000);
  const reload = settle(load, 1000, 10000); // once a burst is over: 5,000 machines are 1 MB of JSON
  const counted = new Set(); // alert ids already counted (redelivery)
  const find = (gw, id) => data.byKey.get(gw + "\u0000" + id);
  const restatus = (m) => { m._status = statusOf(m, data.gws.get(m.gateway)); };
  const stream = live("events=metrics,alert", {
    metrics: (ev) => {
      const m = find(ev.gateway, ev.machine);
      if (!m) { performance.mark("fleet:unknown"); reload(); return; } // a machine the page has not seen
      const seen = ms(m.last_seen);
      for (const p of arr(ev.points)) {
        const t = ms(p.time);
        if (t < seen) continue; // a late interval: the page shows newer
        if (t > ms(m.last_seen)) m.last_seen = p.time;
        if (p.role === "champion") { m.score = p.score_last; m.threshold = p.threshold; }
      }
      const g = data.gws.get(ev.gateway);
      if (g && ms(m.last_seen) > ms(g.last_seen)) g.last_seen = m.last_seen;
      restatus(m);
      redraw();
    },
    alert: (a) => {
      const m = find(a.gateway, a.machine);
      if (!m) { reload(); return; }
      if (a.status !== "open" || counted.has(a.id)) return;
      counted.add(a.id);
      m.open_alerts = (m.open_alerts || 0) + 1;
      restatus(m);
      redraw();
    },
  }, reload);
  return {
    // Pushed; polled (every third tick) only while the stream keeps failing.
    // Gateway online/offline is not pushed: everything is re-read each minute.
    refresh: () => (++tick % (stream.polling ? 3 : 20) === 0 ? load() : null),
    dispose: () => { clearTimeout(debounce); stream.close(); redraw.cancel(); reload.cancel(); },
  };
}
