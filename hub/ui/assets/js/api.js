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

// The login: {auth: "required" | "off", authenticated, name, role, csrf}.
// The server enforces every role; the page only hides what it would refuse.
let session = { auth: "off", authenticated: true, role: "admin", name: "" };
const rank = { viewer: 1, technician: 2, operator: 3, admin: 4 };

export const currentSession = () => session;

// can reports whether the logged-in user holds at least role.
export const can = (role) => (rank[session.role] || 0) >= rank[role];

// loadSession asks who we are (200 either way; authenticated tells).
export async function loadSession() {
  const r = await fetch(base + "session", { headers: { Accept: "application/json" } });
  if (!r.ok) throw new HTTPError("session", r.status);
  session = await r.json();
  sessionStorage.setItem("mw.authed", session.authenticated ? "1" : "");
  return session;
}

export async function login(name, password) {
  const r = await fetch(base + "login", {
    method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({ name, password }),
  });
  let body = null;
  try { body = await r.json(); } catch { /* not JSON */ }
  if (!r.ok) throw new HTTPError("login", r.status, body && body.error);
  session = body;
  sessionStorage.setItem("mw.authed", "1");
  return session;
}

export async function logout() {
  try { await call("logout", { method: "POST", headers: { Accept: "application/json" } }); } finally {
    session = { auth: "required", authenticated: false };
    sessionStorage.removeItem("mw.authed");
  }
}

async function call(path, opts) {
  const key = (opts && opts.method || "GET") + " " + path.split("?")[0].replace(/\/[^/]*\d[^/]*(?=\/|$)/g, "/*");
  if (missing.has(key)) throw new NotAvailable(path);
  const o = Object.assign({ headers: { Accept: "application/json" } }, opts);
  if (o.method && o.method !== "GET" && session.csrf) o.headers = Object.assign({}, o.headers, { "X-CSRF-Token": session.csrf });
  const r = await fetch(base + path, o);
  let body = null;
  try { body = await r.json(); } catch { /* empty or not JSON */ }
  if (r.status === 401 && session.auth === "required") {
    session = { auth: "required", authenticated: false };
    dispatchEvent(new Event("mw:unauthorized")); // the login page takes over
  }
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
  return send("POST", path, data);
}

// send makes a change (POST, PUT, DELETE) with a JSON body.
export function send(method, path, data) {
  return call(path, {
    method,
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-User": who().replace(/[^\x20-\x7e]/g, "") || "anonymous" },
    body: method === "DELETE" ? undefined : JSON.stringify(data || {}),
  });
}

// optional answers null instead of throwing when the endpoint is absent.
export async function optional(path) {
  try { return await get(path); } catch (e) { if (e instanceof NotAvailable) return null; throw e; }
}

export const enc = encodeURIComponent;
export const machinePath = (gw, id) => "machines/" + enc(gw) + "/" + enc(id);

// who is the name written into feedback and actions: the logged-in user,
// or on a hub without login the name typed in the header.
export function who() { return session.auth === "required" ? session.name || "" : localStorage.getItem("mw.who") || ""; }
export function setWho(v) { localStorage.setItem("mw.who", v.trim()); }
