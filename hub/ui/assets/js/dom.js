// DOM and formatting helpers shared by every page.

// arr reads a JSON list that Go may have sent as null.
export const arr = (x) => (Array.isArray(x) ? x : []);

// fill replaces node's children, skipping null and false.
export function fill(node, ...kids) {
  node.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// el builds an element: attrs may hold class, style (an object, applied
// through the CSSOM so the strict CSP allows it), on* listeners, dataset
// (data-*) and plain attributes; kids are nodes, strings or null.
export function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "style") Object.assign(e.style, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k != null && k !== false) e.append(k);
  return e;
}

export function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) e.setAttribute(k, v);
  for (const k of kids.flat()) if (k != null) e.append(k);
  return e;
}

const zeroTime = 86400000; // Go's zero time and Unix 0 both mean "never"

export function ms(iso) {
  const t = typeof iso === "number" ? iso : Date.parse(iso);
  return t && t > zeroTime ? t : 0;
}

export function ago(iso) {
  const t = ms(iso);
  if (!t) return "never";
  const d = Date.now() - t;
  if (d < -5000) return dur(-d) + " ahead of this clock"; // a sender's clock runs ahead
  return dur(d) + " ago";
}

// dur prints a duration in milliseconds the way a person says it.
export function dur(d) {
  const s = Math.max(0, Math.round(d / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.round(s / 60) + "m";
  if (s < 86400) return (s / 3600).toFixed(s < 36000 ? 1 : 0).replace(/\.0$/, "") + "h";
  return (s / 86400).toFixed(s < 864000 ? 1 : 0).replace(/\.0$/, "") + "d";
}

export function clock(iso) {
  const t = ms(iso);
  if (!t) return "–";
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

export function num(v, digits = 3) {
  if (v == null || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  return Number(v).toFixed(digits);
}

export function pct(v, digits = 1) {
  return v == null || Number.isNaN(v) ? "–" : (100 * v).toFixed(digits) + "%";
}

export function count(v) {
  if (v == null) return "–";
  if (v >= 1e9) return (v / 1e9).toFixed(1) + "G";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (v >= 1e4) return (v / 1e3).toFixed(0) + "k";
  return String(v);
}

// level colours a score against its threshold: well below, close, at or above.
export function level(score, threshold) {
  if (score == null) return "none";
  const thr = threshold > 0 ? threshold : 1;
  if (score >= thr) return "bad";
  if (score >= 0.8 * thr) return "warn";
  return "ok";
}

export function short(id, n = 10) {
  return id && id.length > n ? id.slice(0, n) + "…" : id || "";
}

// panel wraps a section with a heading.
export function panel(title, ...kids) {
  return el("section", { class: "panel" }, el("h2", {}, title), ...kids);
}

// unavailable is the panel shown in place of a feature whose endpoint the
// hub does not offer yet.
export function unavailable(what, endpoint) {
  return el("div", { class: "unavailable", "data-unavailable": endpoint },
    el("strong", {}, what + ": not available yet"),
    el("span", {}, " — this hub has no " + endpoint + " endpoint."));
}

// table builds a table that stacks into labelled cards on a phone: each
// cell gets its column's header as data-label.
export function table(headers, rows, attrs) {
  const names = headers.map((h) => (typeof h === "string" ? h : h[0]));
  for (const r of arr(rows).flat()) {
    [...r.children].forEach((td, i) => { if (names[i] && !td.dataset.label) td.dataset.label = names[i]; });
  }
  const a = Object.assign({}, attrs || {});
  a.class = ((a.class || "") + " stack").trim();
  return el("div", { class: "tablewrap" },
    el("table", a,
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", typeof h === "string" ? {} : h[1], typeof h === "string" ? h : h[0])))),
      el("tbody", {}, rows)));
}

// confirmDialog asks a yes/no question in a modal; resolves true on yes.
export function confirmDialog(title, body, yes = "Confirm") {
  return new Promise((resolve) => {
    const d = el("dialog", { class: "confirm" });
    const done = (v) => { d.close(); d.remove(); resolve(v); };
    d.append(
      el("h3", {}, title),
      el("div", { class: "body" }, body),
      el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", onclick: () => done(false) }, "Cancel"),
        el("button", { type: "button", class: "danger", "data-confirm": "yes", onclick: () => done(true) }, yes)));
    d.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(d);
    d.showModal();
  });
}

export function toast(msg, bad) {
  let box = document.getElementById("toasts");
  if (!box) document.body.append((box = el("div", { id: "toasts", "aria-live": "polite" })));
  const t = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, msg);
  box.append(t);
  while (box.children.length > 2) box.firstChild.remove(); // the newest count
  setTimeout(() => t.remove(), 4000);
}

// auditTable lists audit log entries: when, who, what, on what.
export function auditTable(entries) {
  const list = arr(entries);
  if (!list.length) return el("p", { class: "empty" }, "No changes recorded.");
  return table(["When", "Who", "Action", "Subject"], list.map((e) => el("tr", { "data-audit": e.action },
    el("td", {}, clock(e.time)), el("td", {}, e.actor), el("td", {}, el("b", {}, e.action)), el("td", { class: "mono" }, e.subject))));
}
