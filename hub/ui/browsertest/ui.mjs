// Drives the hub UI in headless Chromium (playwright-core, Debian's
// chromium). Run by browser_test.go, which starts and seeds the hub:
//   HUB_URL, MODE (full | perf), CHROMIUM, ARTIFACTS, PROFILE_DIR,
//   USERS (name:password:role,…), EXPECT_ROLLOUTS and FEED_URL (full),
//   EXPECT_MACHINES (perf).
// Exits non-zero with a message naming the failed check.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

const base = process.env.HUB_URL;
const mode = process.env.MODE || "full";
const shots = process.env.ARTIFACTS;
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

rmSync(join(shots, "failure.png"), { force: true }); // left by an earlier failed run
let step = "start";
let current = null; // the page to describe when a check fails
const errors = [];
const users = Object.fromEntries((process.env.USERS || "").split(",").filter(Boolean).map((u) => {
  const [name, password, role] = u.split(":");
  return [role === "viewer" && name !== "vera" ? "locked" : role, { name, password, role }];
}));
// Steps named "expect …" provoke refusals (401, 403, 429) on purpose.
const expected = () => step.startsWith("expect ");

async function open(name, options) {
  // A fresh profile each time: Chromium must find nothing to sync or fetch.
  const profile = mkdtempSync(join(process.env.PROFILE_DIR, name + "-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM, headless: true, args, timeout: 60000, ...options,
  });
  ctx.setDefaultTimeout(15000);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (step.startsWith("degrade") && m.text().includes("404")) return; // the 404s it asked for
    if (expected() && /40[13]|429/.test(m.text())) return; // the refusals it asked for
    errors.push(`[${step}] console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`[${step}] page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    const why = r.failure() ? r.failure().errorText : "";
    if (!why.includes("ERR_ABORTED")) errors.push(`[${step}] request failed: ${r.url()} ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !(step.startsWith("degrade") && r.status() === 404) && !expected()) errors.push(`[${step}] HTTP ${r.status()} for ${r.url()}`);
  });
  current = page;
  return { ctx, page };
}

function check(cond, msg) {
  if (!cond) throw new Error(`[${step}] ${msg}`);
}

// logIn fills the login form the hub shows first, and waits for the fleet.
async function logIn(page, who) {
  const u = users[who];
  check(u, "no " + who + " in USERS");
  step = "log in as " + u.name;
  await page.goto(base);
  await page.waitForSelector('body[data-ready="login"] form[data-login]');
  await page.fill('form[data-login] input[name="username"]', u.name);
  await page.fill('form[data-login] input[name="password"]', u.password);
  await page.click('form[data-login] button[type="submit"]');
  await page.waitForSelector('body[data-ready="fleet"]');
  check((await page.locator("#user-name").innerText()).includes(u.name), "the header does not name " + u.name);
  return u;
}

// api calls the hub from inside the page, as the page's own fetch would
// (same cookie), with or without the session's CSRF token.
async function api(page, method, path, body, csrf = true) {
  return page.evaluate(async ([method, path, body, csrf]) => {
    const s = await (await fetch("api/v1/session")).json();
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (csrf) headers["X-CSRF-Token"] = s.csrf;
    const r = await fetch("api/v1/" + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await r.json(); } catch { /* empty */ }
    return { status: r.status, data };
  }, [method, path, body, csrf]);
}

async function visit(page, hash, name) {
  step = (step.startsWith("degrade") ? "degrade " : "") + name + " " + hash;
  if (page.url().startsWith(base)) await page.evaluate((h) => { location.hash = h; }, hash);
  else await page.goto(base + hash);
  await page.waitForSelector(`body[data-ready="${name}"]`);
}

async function shot(page, file, fullPage = true) {
  await page.screenshot({ path: join(shots, file), fullPage });
}

async function count(page, sel) {
  return page.locator(sel).count();
}

async function desktop() {
  const { ctx, page } = await open("desktop", { viewport: { width: 1366, height: 900 } });
  await logIn(page, "operator");
  // Fleet
  await visit(page, "#/", "fleet");
  check(await page.locator('tr[data-machine="press-1"] [data-champion-age]').innerText() !== "", "fleet shows no champion age for press-1");
  check(!(await page.locator("#nav-admin").isVisible()), "an operator is offered the Admin page");
  for (const m of ["press-1", "press-2", "pump-1", "mill-1", "mill-2", "oven-1"]) {
    check(await count(page, `tr[data-machine="${m}"]`) === 1, `fleet does not list ${m}`);
  }
  check(await count(page, 'tr[data-group-gateway="gw-c"] .pill.offline') === 1, "gw-c is not shown offline");
  check(await count(page, "canvas.heat") === 1, "no heat map");
  await shot(page, "desktop-fleet.png");
  await page.fill('input[type="search"]', "mill");
  await page.waitForFunction(() => document.querySelectorAll("tr[data-machine]").length === 2);
  await page.fill('input[type="search"]', "");
  await page.waitForFunction(() => document.querySelectorAll("tr[data-machine]").length === 6);
  await page.selectOption('select[aria-label="order"]', "worst");
  const order = await page.locator("tr[data-machine]").evaluateAll((rs) => rs.map((r) => r.dataset.machine));
  check(["press-1", "pump-1"].includes(order[0]) && ["press-1", "pump-1"].includes(order[1]), "worst first does not start with the alerting machines: " + order);
  await page.selectOption('select[aria-label="order"]', "place");

  // Machine
  step = "machine";
  await page.click('tr[data-machine="press-1"] a.mid');
  await page.waitForSelector('body[data-ready="machine"]');
  await page.waitForSelector(".chart .uplot canvas");
  const legend = await page.locator(".u-legend").innerText();
  for (const s of ["hst (champion)", "hst-twin (twin)", "rrcf (challenger)", "threshold"]) check(legend.includes(s), `chart legend lacks ${s}: ${legend}`);
  check(await count(page, 'tr[data-alert="gw-a-press-1-1"]') === 1, "machine page lacks its alert");
  // Live: a metrics interval and an alert published through the broker now
  // must show up without a reload, pushed (no metrics or alerts request).
  await page.waitForSelector('[data-live="live"]');
  const polled = [];
  const watch = (r) => { if (/\/api\/v1\/(machines\/.*\/metrics|alerts)\b/.test(r.url())) polled.push(r.url()); };
  page.on("request", watch);
  const last = Number(await page.getAttribute(".chart", "data-last"));
  const fed = await fetch(process.env.FEED_URL);
  check(fed.ok, "live feed: HTTP " + fed.status);
  await page.waitForFunction((n) => Number(document.querySelector(".chart").dataset.last) > n, last);
  const fedAlert = await fetch(process.env.FEED_URL + "?alert=gw-a-press-1-live");
  check(fedAlert.ok, "live alert feed: HTTP " + fedAlert.status);
  await page.waitForSelector('tr[data-alert="gw-a-press-1-live"]');
  page.off("request", watch);
  check(polled.length === 0, "the machine page polled instead of being pushed: " + polled.join(", "));
  console.log("machine page: a metric and an alert arrived by server push, no reload, no polling");
  check(await count(page, 'h1 .num') === 1, "machine header lacks its score");
  check(await count(page, "tr[data-deployment]") >= 1, "machine page lacks deployments");
  check(await count(page, 'tr[data-drift="force"]') === 1, "machine page lacks its drift event");
  await shot(page, "desktop-machine.png");
  const before = await page.getAttribute(".chart", "data-range");
  check(before, "the chart does not publish its time range");
  const over = page.locator(".chart .u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((b) => {
    const [a0, a1] = b.split("-").map(Number);
    const [z0, z1] = document.querySelector(".chart").dataset.range.split("-").map(Number);
    return z1 - z0 < (a1 - a0) * 0.5;
  }, before);
  await shot(page, "desktop-machine-zoomed.png");

  // Models
  await visit(page, "#/models", "models");
  check(await count(page, ".snap-row") >= 4, "snapshot lineage lists fewer than 4 snapshots");
  check(await count(page, "tr[data-kind]") >= 1, "no model kinds");
  await page.click(".snap-row >> nth=2");
  await page.waitForSelector('body[data-ready="models"] tr.on[data-snapshot]');
  await shot(page, "desktop-models.png");

  // A/B on one asset, then rolled up
  await visit(page, "#/ab/gw-a/press-1", "ab");
  check(await count(page, 'table.side th[data-model="rrcf"]') === 1, "A/B table lacks the challenger");
  check(await count(page, "svg.hist path") >= 3, "A/B lacks score distributions");
  check(await count(page, "[data-verdict]") >= 1, "A/B shows no verdict");
  await shot(page, "desktop-ab.png");
  await visit(page, "#/ab", "ab");
  await shot(page, "desktop-ab-fleet.png");

  // Alerts: acknowledge, label, resolve
  await visit(page, "#/alerts", "alerts");
  check(await count(page, '[data-alert="gw-a-press-1-1"]') === 1, "inbox lacks the press-1 alert");
  await shot(page, "desktop-alerts.png");
  check(!(await page.locator("#who").isVisible()), "the name field shows although the hub has logins");
  await page.click('[data-alert="gw-a-press-1-1"]');
  await page.waitForSelector('body[data-ready="alerts"] [data-action="ack"]');
  step = "alert decision";
  await page.waitForSelector(".chart .uplot canvas");
  await page.click('[data-action="ack"]');
  await page.waitForSelector('[data-status="acknowledged"]');
  await page.click('[data-label="false_alarm"]');
  await page.fill('textarea[aria-label="note"]', "loose sensor cable on the force gauge");
  await page.click('[data-action="label"]');
  await page.waitForSelector('li[data-feedback="false_alarm"]');
  check((await page.locator("ul.history").innerText()).includes("dana"), "feedback does not name the logged-in user");
  await page.click('[data-action="resolve"]');
  await page.waitForSelector('[data-status="resolved"]');
  await shot(page, "desktop-alert.png");

  // Promote the challenger, then roll back
  if (process.env.EXPECT_ROLLOUTS === "true") {
    await visit(page, "#/ab/gw-a/press-1", "ab");
    step = "promote";
    await page.click('button[data-action="promote"]');
    await page.click('dialog [data-confirm="yes"]');
    await page.waitForSelector('body[data-ready="rollouts"] [data-status="running"]');
    await shot(page, "desktop-rollout.png");
    step = "rollback";
    await page.click('[data-action="rollback"]');
    await page.fill('dialog input[aria-label="reason"]', "browser test");
    await page.click('dialog [data-confirm="yes"]');
    await page.waitForSelector('[data-status="rolled-back"]');
    await shot(page, "desktop-rolled-back.png");
    // A staged rollout of the challenger's kind to every press.
    await visit(page, "#/ab", "ab");
    step = "roll out to type";
    await page.click('button[data-action="rollout"][data-kind="rrcf"]');
    await page.click('dialog [data-confirm="yes"]');
    await page.waitForSelector('body[data-ready="rollouts"] [data-status="running"]');
    check(await count(page, "tr[data-asset]") === 2, "the press rollout does not list both presses");
    await shot(page, "desktop-rollout-type.png");
    await page.click('[data-action="rollback"]');
    await page.click('dialog [data-confirm="yes"]');
    await page.waitForSelector('[data-status="rolled-back"]');
    // Remove the challenger of press-2.
    await visit(page, "#/machine/gw-a/press-2", "machine");
    step = "remove challenger";
    await page.click('tr[data-deployment] [data-action="remove"]');
    await page.fill('dialog input[aria-label="reason"]', "not needed");
    await page.click('dialog [data-confirm="yes"]');
    await page.waitForFunction(() => !document.querySelector('[data-action="remove"]'));
    console.log("promote, roll out, roll back and remove: ok");
  } else {
    console.log("promote and roll back: not checked (no rollouts on this hub)");
  }
  // The alerts list carries each alert's latest label.
  await visit(page, "#/alerts", "alerts");
  await page.click('button[role="tab"] >> text=All');
  await page.waitForSelector('[data-alert="gw-a-press-1-1"] [data-label-tag="false_alarm"]');
  // Log out: the login page returns and the API refuses the old session.
  step = "expect logout";
  await page.click("#logout");
  await page.waitForSelector('body[data-ready="login"]');
  const after = await page.evaluate(async () => (await fetch("api/v1/status")).status);
  check(after === 401, "after logout GET /api/v1/status answers " + after + ", want 401");
  console.log("labels in the inbox, logout: ok");
  await ctx.close();
}

// pushedToLists publishes alerts through the broker while the fleet and
// then the alerts inbox are open: each must show its alert without a
// reload and without asking the API for its list again.
async function pushedToLists(page) {
  const polled = [];
  const watch = (r) => { if (/\/api\/v1\/(machines|gateways|alerts)\b/.test(r.url())) polled.push(r.url()); };
  const feedAlert = async (id) => {
    const r = await fetch(process.env.FEED_URL + "?alert=" + id);
    check(r.ok, "live alert feed: HTTP " + r.status);
  };
  const openCount = () => page.evaluate(() => {
    const b = document.querySelector('tr[data-machine="press-1"] a.badge');
    return b ? parseInt(b.textContent, 10) : 0;
  });

  await visit(page, "#/", "fleet");
  step = "phone fleet pushed";
  await page.waitForSelector('body[data-live="live"]');
  const before = await openCount();
  page.on("request", watch);
  await feedAlert("gw-a-press-1-phone-fleet");
  await page.waitForFunction((n) => {
    const b = document.querySelector('tr[data-machine="press-1"] a.badge');
    return b && parseInt(b.textContent, 10) === n + 1;
  }, before);
  page.off("request", watch);
  check(polled.length === 0, "the fleet polled instead of being pushed: " + polled.join(", "));
  console.log(`fleet: press-1's open alerts ${before} → ${before + 1} by server push, no reload, no polling`);

  await visit(page, "#/alerts", "alerts");
  step = "phone inbox pushed";
  await page.waitForSelector('body[data-live="live"]');
  page.on("request", watch);
  await feedAlert("gw-a-press-1-phone");
  await page.waitForSelector('[data-alert="gw-a-press-1-phone"]');
  page.off("request", watch);
  check(polled.length === 0, "the alerts inbox polled instead of being pushed: " + polled.join(", "));
  check(await count(page, '[data-alert="gw-a-press-1-phone"] [data-action="ack"]') === 1, "the pushed alert offers no Acknowledge");
  await shot(page, "phone-alerts-pushed.png");
  console.log("alerts inbox (390x844): an alert arrived by server push, no reload, no polling");
}

// degrade answers the registry endpoints as a hub without them would, and
// checks that each page still loads and says what is missing.
async function degrade() {
  const { ctx, page } = await open("degrade", { viewport: { width: 1366, height: 900 } });
  await logIn(page, "operator");
  const gone = /\/api\/v1\/(deployments|compare|rollouts|audit|snapshots|models|drift)(\/|\?|$)/;
  await page.route((u) => gone.test(u.pathname), (r) => r.fulfill({
    status: 404, contentType: "application/json", body: JSON.stringify({ error: "no such endpoint" }) }));
  for (const [hash, name] of [["#/", "fleet"], ["#/machine/gw-a/press-1", "machine"], ["#/models", "models"],
    ["#/ab/gw-a/press-1", "ab"], ["#/ab", "ab"], ["#/alerts/gw-b-mill-1-1", "alerts"]]) {
    await visit(page, hash, name);
    step = "degrade " + hash;
    if (name !== "fleet" && name !== "alerts") {
      check(await count(page, "[data-unavailable]") >= 1, "no 'not available yet' panel");
    }
    if (hash === "#/ab/gw-a/press-1") await shot(page, "degraded-ab.png");
  }
  console.log("without registry endpoints: pages load and show what is missing");
  // Without the event stream the inbox falls back to polling.
  await page.route((u) => u.pathname.endsWith("/api/v1/stream"), (r) => r.fulfill({
    status: 404, contentType: "application/json", body: JSON.stringify({ error: "no such endpoint" }) }));
  await visit(page, "#/alerts", "alerts");
  step = "degrade stream";
  await page.waitForSelector('body[data-live="polling"]', { timeout: 30000 });
  await page.waitForRequest((r) => /\/api\/v1\/alerts\?/.test(r.url()), { timeout: 10000 });
  console.log("without the event stream: the inbox polls");
  await ctx.close();
}

async function phone() {
  const { ctx, page } = await open("phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  await logIn(page, "technician");
  const pages = [["#/", "fleet"], ["#/machine/gw-a/press-1", "machine"], ["#/alerts/gw-a-pump-1-1", "alerts"], ["#/models", "models"],
    ["#/ab/gw-a/press-1", "ab"], ["#/ab", "ab"], ["#/alerts", "alerts"]];
  for (const [hash, name] of pages) {
    await visit(page, hash, name);
    if (name === "machine" || hash.startsWith("#/alerts/")) await page.waitForSelector(".chart .uplot canvas, .chart .empty");
    const layout = await page.evaluate(() => {
      const w = window.innerWidth;
      const bad = [];
      for (const b of document.querySelectorAll("button, a.button, nav a, input, select")) {
        const r = b.getBoundingClientRect();
        if (!r.width || !r.height) continue; // hidden
        if (b.closest(".scroll-x")) continue; // in a table that scrolls sideways on its own, by design
        if (r.left < -1 || r.right > w + 1) bad.push(`${b.tagName} "${(b.textContent || b.getAttribute("aria-label") || "").trim().slice(0, 30)}" at ${Math.round(r.left)}..${Math.round(r.right)}`);
        if (b.tagName === "BUTTON" && r.height < 30) bad.push(`button "${b.textContent.trim().slice(0, 30)}" only ${Math.round(r.height)}px tall`);
      }
      return { scroll: document.documentElement.scrollWidth, w, bad };
    });
    check(layout.scroll <= layout.w, `page scrolls sideways: ${layout.scroll}px wide in a ${layout.w}px screen`);
    check(layout.bad.length === 0, "controls outside the screen or too small: " + layout.bad.join("; "));
    await shot(page, "phone-" + (hash.replace(/[#/]+/g, "-").replace(/^-|-$/g, "") || "fleet") + ".png");
  }
  // A technician sees no Promote, and the hub refuses the promotion anyway.
  await visit(page, "#/ab/gw-a/press-1", "ab");
  step = "expect technician refused";
  check(await count(page, 'button[data-action="promote"]') === 0, "a technician is offered Promote");
  check(await count(page, '[data-needs="operator"]') >= 1, "the A/B page does not say an operator promotes");
  const deps = await api(page, "GET", "deployments?gateway=gw-a&machine=press-1&role=challenger&active=true");
  const dep = (deps.data.deployments || [])[0];
  const promo = await api(page, "POST", "promotions", { deployment: dep ? dep.id : "dep-none", reason: "technician tries" });
  check(promo.status === 403 && /operator/.test(promo.data.error), `technician promotion: HTTP ${promo.status} ${JSON.stringify(promo.data)}, want 403 naming the operator role`);
  const rb = await api(page, "POST", "rollouts/ro-none/rollback", {});
  check(rb.status === 403, `technician rollback: HTTP ${rb.status}, want 403`);
  // A state-changing request without the session's CSRF token is refused.
  const forged = await api(page, "POST", "alerts/gw-a-pump-1-1/ack", {}, false);
  check(forged.status === 403 && /CSRF/.test(forged.data.error), `ack without CSRF token: HTTP ${forged.status} ${JSON.stringify(forged.data)}, want 403`);
  const still = await api(page, "GET", "alerts/gw-a-pump-1-1");
  check(still.data.status === "open", "the refused ack changed the alert: " + still.data.status);
  console.log("technician: no Promote shown, promotion and rollback refused (403), CSRF-less POST refused (403)");
  await visit(page, "#/alerts", "alerts");
  step = "phone acknowledge";
  await page.tap('[data-alert="gw-a-pump-1-1"] [data-action="ack"]');
  await page.waitForSelector('[data-alert="gw-a-pump-1-1"]', { state: "detached" });
  console.log("phone layout: ok (" + pages.length + " pages at 390x844)");
  await pushedToLists(page);
  await ctx.close();
}

// admin makes an API token and a user on the Admin page, uses the token
// from outside the browser, then revokes it.
async function admin() {
  const { ctx, page } = await open("admin", { viewport: { width: 1366, height: 900 } });
  await logIn(page, "admin");
  check(await page.locator("#nav-admin").isVisible(), "an admin has no Admin page in the menu");
  await visit(page, "#/admin", "admin");
  check(await count(page, 'tr[data-user="dana"]') === 1, "the user list lacks dana");
  await page.fill('input[aria-label="new token name"]', "ci-reader");
  await page.selectOption('select[aria-label="new token role"]', "viewer");
  await page.click('form[data-form="token"] button[type="submit"]');
  const secret = (await page.locator("[data-token-secret]").innerText()).trim();
  check(/^mwt_/.test(secret), "no token secret shown: " + secret);
  const withToken = () => fetch(base + "api/v1/status", { headers: { Authorization: "Bearer " + secret } });
  check((await withToken()).status === 200, "the new token is refused");
  await page.fill('input[aria-label="new user name"]', "newtech");
  await page.selectOption('select[aria-label="new user role"]', "technician");
  await page.fill('input[aria-label="new user password"]', "newtech-password");
  await page.click('form[data-form="user"] button[type="submit"]');
  await page.waitForSelector('tr[data-user="newtech"]');
  await shot(page, "desktop-admin.png");
  step = "revoke token";
  await page.click('tr[data-token] [data-action="revoke-token"]');
  await page.click('dialog [data-confirm="yes"]');
  await page.waitForSelector("tr[data-token].ended");
  check((await withToken()).status === 401, "the revoked token still works");
  console.log("admin: token created (shown once), used, revoked; user created");
  await ctx.close();
}

// ratelimit tries a wrong password until the hub refuses further logins
// of that user, even with the right password.
async function ratelimit() {
  const { ctx, page } = await open("ratelimit", { viewport: { width: 1366, height: 900 } });
  const u = users.locked;
  step = "expect ratelimit";
  await page.goto(base);
  await page.waitForSelector('body[data-ready="login"]');
  const attempt = async (pw) => {
    await page.fill('input[name="username"]', u.name);
    await page.fill('input[name="password"]', pw);
    const resp = page.waitForResponse((r) => r.url().endsWith("/api/v1/login"));
    await page.click('form[data-login] button[type="submit"]');
    const r = await resp;
    await page.waitForFunction(() => document.querySelector('form[data-login] .error').textContent !== "");
    const msg = await page.locator("form[data-login] .error").innerText();
    await page.evaluate(() => { document.querySelector("form[data-login] .error").textContent = ""; });
    return [r.status(), msg];
  };
  const seen = [];
  for (let i = 0; i < 6; i++) {
    const [status, msg] = await attempt("wrong password " + i);
    seen.push(status);
    if (status === 429) { check(/too many login attempts/.test(msg), "rate-limited login shows: " + msg); break; }
    check(status === 401 && /wrong user name or password/.test(msg), `wrong password: HTTP ${status} "${msg}"`);
  }
  check(seen.at(-1) === 429 && seen.length > 1, "login never rate-limited: " + seen.join(", "));
  const [status] = await attempt(u.password);
  check(status === 429, "the right password got through the rate limit: HTTP " + status);
  await shot(page, "login-rate-limited.png");
  console.log("login rate limit: " + seen.join(", ") + ", then the right password refused too");
  await ctx.close();
}

// burstOf5000 has every machine report at once through the broker while
// the fleet is open: the rows must show the new score, drawn at most about
// once a second rather than once per machine.
async function burstOf5000(page) {
  step = "burst of 5000";
  await page.waitForSelector('body[data-live="live"]');
  const marks = () => page.evaluate(() => ({ now: performance.now(),
    renders: performance.getEntriesByName("fleet:render").map((m) => m.startTime),
    loads: performance.getEntriesByName("fleet:fetched").length,
    why: ["live:resync", "live:reconnect", "fleet:unknown"].map((n) => n + " " + performance.getEntriesByName(n).length).join(", ") }));
  const before = await marks();
  const r = await fetch(process.env.BURST_URL + "?score=0.321");
  check(r.ok, "burst feed: HTTP " + r.status);
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("tr[data-machine] .scorecell .num")];
    return cells.length > 0 && cells.every((c) => c.textContent === "0.321");
  }, null, { timeout: 30000 });
  // Settled: no redraw for 1.5 s (a late resync would reload and redraw).
  await page.waitForFunction(() => {
    const rs = performance.getEntriesByName("fleet:render");
    return performance.now() - rs[rs.length - 1].startTime > 1500;
  }, null, { timeout: 30000, polling: 250 });
  const after = await marks();
  const renders = after.renders.length - before.renders.length;
  const secs = (after.renders.at(-1) - before.now) / 1000;
  check(renders <= Math.ceil(secs) + 2, `the fleet redrew ${renders} times in ${secs.toFixed(1)} s for one burst of 5,000 machines`);
  return `burst of 5,000 machines' metrics: ${renders} redraws, ${after.loads - before.loads} reloads (${after.why}), settled in ${secs.toFixed(1)} s`;
}

async function perf() {
  const { ctx, page } = await open("perf", { viewport: { width: 1366, height: 900 } });
  await logIn(page, "viewer");
  const runs = [];
  for (let i = 0; i < 5; i++) {
    step = "first view " + i;
    await page.goto(base + "?run=" + i + "#/fleet");
    await page.waitForSelector('body[data-ready="fleet"] table.fleet tbody tr[data-machine]');
    runs.push(Number(await page.evaluate(() => document.body.dataset.firstViewMs)));
    if (i === 0 || process.env.VERBOSE) {
      const res = await page.evaluate(() => performance.getEntriesByType("resource").map((r) =>
        `${r.name.replace(location.origin, "")} ${Math.round(r.startTime)}+${Math.round(r.duration)}ms`));
      const marks = await page.evaluate(() => performance.getEntriesByType("mark").map((m) => m.name + "@" + Math.round(m.startTime)));
      console.log("run " + i + " resources: " + res.join(", ") + "; marks: " + marks.join(", "));
    }
  }
  const total = await page.locator(".counts b").first().innerText();
  check(total === process.env.EXPECT_MACHINES, `fleet counts ${total} machines, want ${process.env.EXPECT_MACHINES}`);
  const api = await page.evaluate(async () => {
    const t = performance.now();
    const r = await fetch("api/v1/machines");
    const body = await r.text();
    return { ms: Math.round(performance.now() - t), bytes: body.length };
  });
  await shot(page, "perf-fleet-5000.png", false);
  const burst = await burstOf5000(page);
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`first view ms: median ${sorted[2]} (runs ${runs.join(", ")}) with ${total} machines; ` +
    `GET /api/v1/machines ${api.ms} ms, ${Math.round(api.bytes / 1024)} KiB; ${burst}`);
  await ctx.close();
}

try {
  if (mode === "perf") await perf();
  else { await desktop(); await phone(); step = "degrade"; await degrade(); await admin(); await ratelimit(); }
  if (errors.length) throw new Error("errors in the browser:\n  " + errors.join("\n  "));
  console.log(mode + ": all checks passed");
} catch (e) {
  console.error("FAILED: " + (e.stack || e.message));
  if (current) {
    try {
      console.error("page " + current.url() + " shows:\n" + (await current.locator("body").innerText()).slice(0, 2000));
      await current.screenshot({ path: join(shots, "failure.png"), fullPage: true });
    } catch { /* the page is gone */ }
  }
  if (errors.length) console.error("browser errors:\n  " + errors.join("\n  "));
  process.exit(1);
}
