// Admin: users and API tokens. Only admins see the page in the menu; the
// hub refuses everything here to anyone else anyway.

import { fill, arr, el, clock, ago, panel, table, toast, confirmDialog } from "./dom.js";
import { get, send, enc, can, currentSession } from "./api.js";

const roles = ["viewer", "technician", "operator", "admin"];
const ttls = [["", "until revoked"], ["30d", "30 days"], ["90d", "90 days"], ["365d", "1 year"]];

export async function mount(view) {
  view.append(el("h1", {}, "Users and API tokens"));
  if (!can("admin")) {
    view.append(el("p", { class: "empty", "data-needs": "admin" }, "Only an admin manages users and tokens."));
    return {};
  }
  const usersBox = el("div");
  const tokensBox = el("div");
  const secretBox = el("div");
  view.append(panel("Users", usersBox, userForm()), panel("API tokens", secretBox, tokensBox, tokenForm()));

  function roleSelect(label) {
    return el("select", { "aria-label": label }, roles.map((r) => el("option", { value: r }, r)));
  }

  function userForm() {
    const name = el("input", { placeholder: "name", "aria-label": "new user name", autocomplete: "off" });
    const role = roleSelect("new user role");
    const pw = el("input", { type: "password", placeholder: "password (10+ characters)", "aria-label": "new user password", autocomplete: "new-password" });
    return el("form", { class: "toolbar", "data-form": "user", onsubmit: async (e) => {
      e.preventDefault();
      try {
        await send("PUT", "users/" + enc(name.value.trim()), { role: role.value, password: pw.value });
        toast("Saved " + name.value.trim());
        name.value = pw.value = "";
        await loadUsers();
      } catch (err) { toast(err.message, true); }
    } }, name, role, pw, el("button", { type: "submit" }, "Save user"));
  }

  function tokenForm() {
    const name = el("input", { placeholder: "token name (e.g. ci-deploy)", "aria-label": "new token name", autocomplete: "off" });
    const role = roleSelect("new token role");
    const ttl = el("select", { "aria-label": "new token lifetime" }, ttls.map(([v, t]) => el("option", { value: v }, t)));
    return el("form", { class: "toolbar", "data-form": "token", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const t = await send("POST", "tokens", { name: name.value.trim(), role: role.value, ttl: ttl.value });
        fill(secretBox, el("div", { class: "secret" },
          el("b", {}, `Token ${t.name} (${t.role}): copy it now, it is not shown again.`),
          el("code", { class: "mono", "data-token-secret": t.id }, t.token)));
        name.value = "";
        await loadTokens();
      } catch (err) { toast(err.message, true); }
    } }, name, role, ttl, el("button", { type: "submit" }, "Create token"));
  }

  async function loadUsers() {
    const us = arr((await get("users")).users);
    const me = currentSession().name;
    fill(usersBox, table(["Name", "Role", "Updated", "By", ""], us.map((u) => el("tr", { "data-user": u.name },
      el("td", {}, el("b", {}, u.name)), el("td", {}, u.role), el("td", {}, clock(u.updated)), el("td", {}, u.by || "–"),
      el("td", {}, u.name === me ? el("span", { class: "sub" }, "you") : el("button", {
        type: "button", class: "secondary small", "data-action": "delete-user", onclick: async () => {
          if (!(await confirmDialog(`Delete ${u.name}?`, el("p", {}, "Their sessions end at once."), "Delete"))) return;
          try { await send("DELETE", "users/" + enc(u.name)); await loadUsers(); } catch (e) { toast(e.message, true); }
        },
      }, "Delete…"))))));
  }

  async function loadTokens() {
    const ts = arr((await get("tokens")).tokens);
    fill(tokensBox, ts.length ? table(["Name", "Role", "Created", "Expires", "Last used", ""], ts.map((t) => el("tr", { "data-token": t.id, class: t.revoked ? "ended" : "" },
      el("td", {}, el("b", {}, t.name), el("div", { class: "sub mono" }, t.id)), el("td", {}, t.role),
      el("td", {}, clock(t.created), el("div", { class: "sub" }, t.created_by || "")),
      el("td", {}, t.expires ? clock(t.expires) : "never"), el("td", {}, t.last_used ? ago(t.last_used) : "never"),
      el("td", {}, t.revoked ? el("span", { class: "sub" }, "revoked") : el("button", {
        type: "button", class: "secondary small", "data-action": "revoke-token", onclick: async () => {
          if (!(await confirmDialog(`Revoke ${t.name}?`, el("p", {}, "Anything using it is refused at once."), "Revoke"))) return;
          try { await send("DELETE", "tokens/" + enc(t.id)); await loadTokens(); } catch (e) { toast(e.message, true); }
        },
      }, "Revoke…"))))) : el("p", { class: "empty" }, "No API tokens."));
  }

  await Promise.all([loadUsers(), loadTokens()]);
  return { refresh: null };
}
