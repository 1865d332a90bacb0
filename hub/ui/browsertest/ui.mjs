// Drives the hub UI in headless Chromium (playwright-core, Debian's
// chromium). Run by browser_test.go, which starts and seeds the hub:
//   HUB_URL, MODE (full | perf), CHROMIUM, ARTIFACTS, PROFILE_DIR,
//   EXPECT_ROLLOUTS and FEED_URL (full), EXPECT_MACHINES (perf).
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
    errors.push(`[${step}] console error: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`[${step}] page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    const why = r.failure() ? r.failure().errorText : "";
    if (!why.includes("ERR_ABORTED")) errors.push(`[${step}] request failed: ${r.url()} ${why}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && !(step.startsWith("degrade") && r.status() === 404)) errors.push(`[${step}] HTTP ${r.status()} for ${r.url()}`);
  });
  current = page;
  return { ctx, page };
}

function check(cond, msg) {
  if (!cond) throw new Error(`[${step}] ${msg}`);
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
  // Fleet
  await visit(page, "#/", "fleet");
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
  // Live: a metrics interval published through the broker now must show up
  // without a reload.
  const last = Number(await page.getAttribute(".chart", "data-last"));
  const fed = await fetch(process.env.FEED_URL);
  check(fed.ok, "live feed: HTTP " + fed.status);
  await page.waitForFunction((n) => Number(document.querySelector(".chart").dataset.last) > n, last);
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
  await page.fill("#who", "Dana");
  await page.press("#who", "Enter");
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
  check((await page.locator("ul.history").innerText()).includes("Dana"), "feedback does not name the technician");
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
  await ctx.close();
}

// degrade answers the registry endpoints as a hub without them would, and
// checks that each page still loads and says what is missing.
async function degrade() {
  const { ctx, page } = await open("degrade", { viewport: { width: 1366, height: 900 } });
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
  await ctx.close();
}

async function phone() {
  const { ctx, page } = await open("phone", { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
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
  step = "phone acknowledge";
  await page.tap('[data-alert="gw-a-pump-1-1"] [data-action="ack"]');
  await page.waitForSelector('[data-alert="gw-a-pump-1-1"]', { state: "detached" });
  console.log("phone layout: ok (" + pages.length + " pages at 390x844)");
  await ctx.close();
}

async function perf() {
  const { ctx, page } = await open("perf", { viewport: { width: 1366, height: 900 } });
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
  const sorted = [...runs].sort((a, b) => a - b);
  console.log(`first view ms: median ${sorted[2]} (runs ${runs.join(", ")}) with ${total} machines; ` +
    `GET /api/v1/machines ${api.ms} ms, ${Math.round(api.bytes / 1024)} KiB`);
  await ctx.close();
}

try {
  if (mode === "perf") await perf();
  else { await desktop(); await phone(); step = "degrade"; await degrade(); }
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
