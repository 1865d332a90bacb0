// The hub's JSON API under api/v1 (relative, so a reverse proxy may mount
// the hub under a prefix).

// NotAvailable is thrown for an endpoint this hub does not offer yet.
export class NotAvailable extends Error {
  constructor(path) { super(path + " is not available on this hub"); this.path = path; }
}

// HTTPError carries the API's {"error": "..."} message.
export class HTTPError extends Error {
  constructor(path, status, msg) { super(msg || path + ": HTTP " + status); this.status = status; }
}

const base = "api/v1/";
const missing = new Set(); // endpoints known to be absent: not asked again until reload

async function call(path, opts) {
  const key = (opts && opts.method || "GET") + " " + path.split("?")[0].replace(/\/[^/]*\d[^/]*(?=\/|$)/g, "/*");
  if (missing.has(key)) throw new NotAvailable(path);
  const r = await fetch(base + path, Object.assign({ headers: { Accept: "application/json" } }, opts));
  let body = null;
  try { body = await r.json(); } catch { /* empty or not JSON */ }
  if (r.status === 405 || r.status === 501 || (r.status === 404 && body && body.error === "no such endpoint") ||
      (r.status === 503 && body && /not configured/.test(body.error || ""))) {
    missing.add(key);
    throw new NotAvailable(path);
  }
  if (!r.ok) throw new HTTPError(path, r.status, body && body.error);
  return body;
}

const early = new Map(); // path → promise started before its page asked

// prefetch starts a GET that the next get of the same path picks up.
export function prefetch(path) {
  if (!early.has(path)) {
    const p = call(path);
    p.catch(() => {}); // the page's own get reports the error
    early.set(path, p);
  }
}

export function get(path) {
  const p = early.get(path);
  if (p) { early.delete(path); return p; }
  return call(path);
}

export function post(path, data) {
  return call(path, {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-User": who().replace(/[^\x20-\x7e]/g, "") || "anonymous" },
    body: JSON.stringify(data || {}),
  });
}

// optional answers null instead of throwing when the endpoint is absent.
export async function optional(path) {
  try { return await get(path); } catch (e) { if (e instanceof NotAvailable) return null; throw e; }
}

export const enc = encodeURIComponent;
export const machinePath = (gw, id) => "machines/" + enc(gw) + "/" + enc(id);

// who is the name written into feedback and actions (kept in the browser).
export function who() { return localStorage.getItem("mw.who") || ""; }
export function setWho(v) { localStorage.setItem("mw.who", v.trim()); }
