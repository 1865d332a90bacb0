// Millwright hub UI: a hash-routed single page in plain ES modules. Each
// page module exports mount(view, params) returning {refresh, dispose};
// the router polls the visible page's refresh while the tab is visible.

import { $, el, fill, toast } from "./dom.js";
import { get, prefetch, who, setWho, loadSession, login, logout, currentSession } from "./api.js";

const REFRESH_MS = 3000;

const routes = [
  { re: /^#?\/?$/, page: "fleet", nav: "fleet" },
  { re: /^#\/fleet$/, page: "fleet", nav: "fleet" },
  { re: /^#\/machine\/([^/]+)\/([^/]+)$/, page: "machine", nav: "fleet" },
  { re: /^#\/alerts(?:\/([^/]+))?$/, page: "alerts", nav: "alerts" },
  { re: /^#\/models(?:\/([^/]+))?$/, page: "models", nav: "models" },
  { re: /^#\/ab(?:\/([^/]+)\/([^/]+))?$/, page: "ab", nav: "ab" },
  { re: /^#\/rollouts(?:\/([^/]+))?$/, page: "rollouts", nav: "ab" },
  { re: /^#\/admin$/, page: "admin", nav: "admin" },
];

let current = null; // {dispose, refresh}
let timer = null;
let seq = 0;

function showError(e) {
  const box = $("#error");
  box.textContent = e ? String(e.message || e) : "";
  box.hidden = !e;
}

async function summary() {
  try {
    const st = await get("status");
    $("#summary").textContent = `${st.gateways_online}/${st.gateways} gateways online · ${st.machines} machines` +
      (st.ready ? "" : " · not ready");
    const badge = $("#nav-alerts-count");
    badge.textContent = st.alerts_open ? String(st.alerts_open) : "";
    badge.hidden = !st.alerts_open;
    showError(null);
  } catch (e) {
    showError(e);
  }
}

async function route() {
  if (!currentSession().authenticated) { showLogin(); return; }
  const my = ++seq;
  clearTimeout(timer);
  timer = null;
  if (current && current.dispose) current.dispose();
  current = null;
  const [hash, qs] = location.hash.split("?");
  const r = routes.find((x) => x.re.test(hash)) || routes[0];
  const params = (hash.match(r.re) || []).slice(1).map((p) => (p == null ? p : decodeURIComponent(p)));
  const query = new URLSearchParams(qs || "");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === r.nav);
  delete document.body.dataset.ready;
  const view = el("div", { class: "page page-" + r.page, "data-page": r.page });
  $("#view").replaceChildren(view);
  if (r.page === "fleet") { prefetch("machines"); prefetch("gateways"); } // while the module loads
  try {
    const mod = await import("./" + r.page + ".js");
    if (my !== seq) return;
    current = (await mod.mount(view, params, query)) || {};
    if (my !== seq) { if (current.dispose) current.dispose(); return; }
    document.body.dataset.ready = r.page; // the browser tests wait on this
    if (!document.body.dataset.firstViewMs) document.body.dataset.firstViewMs = String(Math.round(performance.now()));
  } catch (e) {
    view.append(el("p", { class: "error" }, "Could not load this page: " + (e.message || e)));
    console.warn(e);
  }
  schedule(my);
}

function schedule(my) {
  if (document.hidden) return;
  timer = setTimeout(async () => {
    if (my !== seq) return;
    await summary();
    if (current && current.refresh) {
      try { await current.refresh(); } catch (e) { showError(e); }
    }
    if (my === seq) schedule(my);
  }, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) { clearTimeout(timer); timer = null; } else if (timer === null) schedule(seq);
});
window.addEventListener("hashchange", route);
window.addEventListener("mw:changed", summary); // a page changed something the header counts

const whoInput = $("#who");
whoInput.value = who();
whoInput.addEventListener("change", () => { setWho(whoInput.value); toast("Signed as " + (whoInput.value || "anonymous")); });

// drawUser shows who is logged in (or, on a hub without login, the name
// field) and marks the body with the role for styling.
function drawUser() {
  const s = currentSession();
  const required = s.auth === "required";
  $("#who-label").hidden = required;
  $("#user").hidden = !required || !s.authenticated;
  $("#user-name").textContent = s.authenticated ? `${s.name} (${s.role})` : "";
  document.body.dataset.role = s.authenticated ? s.role : "";
  $("#nav-admin").hidden = !(s.authenticated && s.role === "admin");
  $("nav").hidden = !s.authenticated;
}

// showLogin replaces the page with the login form until a login succeeds.
function showLogin() {
  ++seq;
  clearTimeout(timer);
  timer = null;
  if (current && current.dispose) current.dispose();
  current = null;
  drawUser();
  $("#summary").textContent = "";
  const name = el("input", { name: "username", autocomplete: "username", required: true, "aria-label": "user name" });
  const pass = el("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "aria-label": "password" });
  const msg = el("p", { class: "error", role: "alert" });
  const button = el("button", { type: "submit" }, "Log in");
  const form = el("form", { class: "login panel", "data-login": "" },
    el("h1", {}, "Log in"),
    el("label", {}, "User", name), el("label", {}, "Password", pass), button, msg,
    el("p", { class: "sub" }, "Accounts are made by an admin (hub user add). The demo prints its logins when the hub starts."));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    fill(msg);
    try {
      await login(name.value.trim(), pass.value);
      drawUser();
      summary();
      route();
    } catch (err) {
      msg.textContent = err.message;
      pass.value = "";
      pass.focus();
    } finally {
      button.disabled = false;
    }
  });
  $("#view").replaceChildren(el("div", { class: "page page-login" }, form));
  document.body.dataset.ready = "login"; // the browser tests wait on this
  name.focus();
}

$("#logout").addEventListener("click", async () => {
  try { await logout(); } catch (e) { console.warn(e); }
  showLogin();
});
addEventListener("mw:unauthorized", () => { toast("Your session ended: log in again", true); showLogin(); });

async function start() {
  // A hub that knew us last time: fetch the fleet while asking who we are.
  if (sessionStorage.getItem("mw.authed") === "1" && /^#?\/?(fleet)?$/.test(location.hash)) { prefetch("machines"); prefetch("gateways"); }
  try {
    await loadSession();
  } catch (e) {
    showError(e);
  }
  drawUser();
  if (!currentSession().authenticated) { showLogin(); return; }
  summary();
  route();
}
start();
