// Checks the Models page's statistics in headless Chromium as a viewer:
// vectors scored per day, the last promotion with its user, the features
// that drive the alerts; no console errors on a desktop or a phone.
// Run by models_test.go, which starts and seeds the hub:
//   HUB_URL, CHROMIUM, ARTIFACTS, PROFILE_DIR, USERS (name:password:role,…),
//   EXPECT (JSON: {kind, role, total, day, dayVectors, promotedKind,
//   promotedAsset, by, model, features: [[feature, "NN%"], …]}).
// Exits non-zero with a message naming the failed check.
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";

const base = process.env.HUB_URL;
const shots = process.env.ARTIFACTS;
const want = JSON.parse(process.env.EXPECT);
const viewer = (process.env.USERS || "").split(",").map((u) => u.split(":")).find((u) => u[2] === "viewer");
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const errors = [];
let step = "start";
let current = null;

function check(cond, msg) {
  if (!cond) throw new Error(`[${step}] ${msg}`);
}

async function walk(name, viewport) {
  const profile = mkdtempSync(join(process.env.PROFILE_DIR, name + "-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM, headless: true, args, timeout: 60000, viewport,
  });
  ctx.setDefaultTimeout(15000);
  const page = ctx.pages()[0] || (await ctx.newPage());
  current = page;
  page.on("console", (m) => { if (m.type() === "error") errors.push(`[${step}] console error: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`[${step}] page error: ${e.message}`));
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`[${step}] HTTP ${r.status()} for ${r.url()}`); });

  step = name + ": log in as " + viewer[0];
  await page.goto(base);
  await page.waitForSelector('body[data-ready="login"] form[data-login]');
  await page.fill('form[data-login] input[name="username"]', viewer[0]);
  await page.fill('form[data-login] input[name="password"]', viewer[1]);
  await page.click('form[data-login] button[type="submit"]');
  await page.waitForSelector('body[data-ready="fleet"]');

  step = name + ": models";
  await page.evaluate(() => { location.hash = "#/models"; });
  await page.waitForSelector('body[data-ready="models"]');
  const row = `.scored-row[data-scored-kind="${want.kind}"][data-role="${want.role}"]`;
  await page.waitForSelector(row);
  const total = await page.locator(row + " [data-total]").getAttribute("data-total");
  check(Number(total) === want.total, `${want.kind} ${want.role} vectors over the window: ${total}, want ${want.total}`);
  const bars = await page.locator(row + " rect[data-day]").count();
  check(bars === 14, `${bars} day bars, want 14`);
  const day = await page.locator(`${row} rect[data-day="${want.day}"]`).getAttribute("data-vectors");
  check(Number(day) === want.dayVectors, `vectors on ${want.day}: ${day}, want ${want.dayVectors}`);
  const h = Number(await page.locator(`${row} rect[data-day="${want.day}"]`).getAttribute("height"));
  check(h > 0, `the bar of ${want.day} is not drawn (height ${h})`);

  const promoted = await page.locator(`tr[data-kind="${want.promotedKind}"] td[data-promoted]`).innerText();
  check(promoted.includes("by " + want.by) && /ago/.test(promoted), `kind ${want.promotedKind} last promoted: "${promoted}", want "… ago by ${want.by}"`);
  const asset = await page.locator(`tr[data-promoted-asset="${want.promotedAsset}"]`).innerText();
  check(asset.includes(want.by) && asset.includes(want.promotedKind), `promotion of ${want.promotedAsset}: "${asset}"`);

  const feats = page.locator(`[data-features-model="${want.model}"] [data-feature]`);
  const got = [];
  for (let i = 0; i < (await feats.count()); i++) {
    got.push([await feats.nth(i).getAttribute("data-feature"), (await feats.nth(i).locator(".num").innerText()).trim()]);
  }
  check(JSON.stringify(got) === JSON.stringify(want.features), `features of ${want.model}: ${JSON.stringify(got)}, want ${JSON.stringify(want.features)}`);
  const width = await feats.first().locator(".cbar > span").evaluate((e) => e.getBoundingClientRect().width);
  check(width > 0, "the top feature's bar has no width");

  const lines = (await page.locator("main").innerText()).split("\n").map((l) => l.trim());
  check(!lines.includes("null") && !lines.includes("undefined"), "the page prints null or undefined");
  const sideways = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(sideways <= 1, `the page scrolls sideways by ${sideways}px`);
  await page.screenshot({ path: join(shots, name + "-models-stats.png"), fullPage: true });
  console.log(`${name}: ${want.kind} ${want.role} ${total} vectors in 14 days; last promoted ${promoted.replace(/\s+/g, " ")}; features ${JSON.stringify(got)}`);
  await ctx.close();
}

try {
  await walk("desktop", { width: 1366, height: 900 });
  await walk("phone", { width: 390, height: 844 });
  check(errors.length === 0, "\n" + errors.join("\n"));
} catch (e) {
  if (current) await current.screenshot({ path: join(shots, "models-failure.png"), fullPage: true }).catch(() => {});
  console.error(e.message);
  if (errors.length) console.error(errors.join("\n"));
  process.exit(1);
}
process.exit(0);
