// The app shell: sign-in, the header, hash routes (#/find, #/mine, #/checkin/<code>, #/staff/…),
// focus and title on every page change, and the live notification stream.
import { api, session, cached, forget, seatsByID } from "./api.js";
import { h, fill, field, messageArea, say } from "./dom.js";
import { t, loadLanguage } from "./i18n.js";
import { startLive, stopLive, liveIndicator } from "./live.js";

const main = document.getElementById("main");
const pages = {
  find: { module: () => import("./find.js"), title: "nav.find" },
  mine: { module: () => import("./mine.js"), title: "nav.mine" },
  staff: { module: () => import("./staff.js"), title: "nav.staff", admin: true },
};
let cleanup = null;
let afterSignIn = null;

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function defaultRoute() {
  return session.isAdmin ? "#/staff/reservations" : "#/find";
}

function renderHeader() {
  const current = location.hash.slice(2).split("/")[0];
  const links = [];
  if (session.token) {
    links.push(["#/find", t("nav.find"), "find"], ["#/mine", t("nav.mine"), "mine"]);
    if (session.isAdmin) links.push(["#/staff/reservations", t("nav.staff"), "staff"]);
  }
  fill(document.getElementById("nav"),
    links.length ? h("ul", {}, links.map(([href, text, name]) =>
      h("li", {}, h("a", { href, "aria-current": name === current ? "page" : false }, text)))) : null);
  const account = document.getElementById("account");
  if (session.token) {
    fill(account,
      liveIndicator(),
      h("span", { class: "who" }, session.user.name || session.user.student_id),
      h("button", { type: "button", onclick: signOut }, t("action.sign_out")));
  } else {
    fill(account);
  }
}

function signOut() {
  stopLive();
  session.clear();
  forget();
  go("#/login");
}

/// Shows a page: title, heading focus (screen readers hear where they are), the header's state.
function show(titleKey, build, ...args) {
  if (cleanup) cleanup();
  cleanup = null;
  document.title = `${t(titleKey)} – ${t("app.name")}`;
  renderHeader();
  fill(main);
  // A page whose first load fails says why instead of staying half drawn.
  Promise.resolve()
    .then(() => build(main, ...args))
    .then((c) => {
      if (typeof c === "function") cleanup = c;
    })
    .catch((err) => {
      main.append(h("p", { class: "message error", role: "alert" }, err?.describe ? err.describe() : t("error.unknown")));
    });
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}

async function route() {
  const hash = location.hash;
  if (hash && !hash.startsWith("#/")) return; // an in-page anchor
  let parts;
  try {
    parts = hash.slice(2).split("/").map(decodeURIComponent);
  } catch {
    parts = ["not-found"]; // a malformed %-escape in a tampered link
  }
  const [name, ...args] = parts;
  if (!session.token) {
    if (name === "register") return show("page.register", renderRegister);
    if (name && name !== "login") afterSignIn = hash;
    if (name !== "login") return go("#/login");
    return show("page.sign_in", renderSignIn);
  }
  if (name === "login" || name === "register" || !name) return go(afterSignIn || defaultRoute());
  if (name === "checkin") return show("page.checkin", renderCheckIn, args[0] || "");
  const page = pages[name];
  if (!page || (page.admin && !session.isAdmin)) return show("page.not_found", renderNotFound);
  let module;
  try {
    module = await page.module();
  } catch {
    // The page's code could not be fetched (offline, or the server is restarting).
    return show(page.title, (root) => fill(root, h("h1", {}, t(page.title)),
      h("p", { class: "message error", role: "alert" }, t("error.network"))));
  }
  show(page.title, module.render, ...args);
}

function renderSignIn(root) {
  const id = h("input", { name: "student_id", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = messageArea();
  const registration = h("p", { class: "aside" });
  cached("rules").then((rules) => {
    if (rules.self_registration) fill(registration, t("sign_in.no_account"), " ", h("a", { href: "#/register" }, t("sign_in.register")));
  }).catch(() => {});
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, t("page.sign_in")),
    h("p", { class: "aside" }, t("sign_in.intro")),
    field(t("field.student_id"), id),
    field(t("field.password"), password),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.sign_in"))),
    message, registration);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!id.value.trim() || !password.value) return say(message, t("sign_in.missing"), "error");
    say(message, t("status.working"));
    try {
      const login = await api("POST", "auth/login", { student_id: id.value.trim(), password: password.value });
      signedIn(login);
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
      password.select();
    }
  });
  fill(root, form);
}

function renderRegister(root) {
  const id = h("input", { name: "student_id", autocomplete: "username", required: true, autofocus: true });
  const name = h("input", { name: "name", autocomplete: "name" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true });
  const message = messageArea();
  const hint = h("span", {});
  cached("rules").then((r) => fill(hint, t("register.password_hint", { n: r.min_password_length }))).catch(() => {});
  const form = h("form", { class: "card narrow", novalidate: true },
    h("h1", {}, t("page.register")),
    field(t("field.student_id"), id),
    field(t("field.name"), name),
    field(t("field.password"), password, hint),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.register"))),
    message,
    h("p", { class: "aside" }, h("a", { href: "#/login" }, t("register.have_account"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(message, t("status.working"));
    try {
      const login = await api("POST", "auth/register", {
        student_id: id.value.trim(), password: password.value, ...(name.value.trim() ? { name: name.value.trim() } : {}),
      });
      signedIn(login);
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  });
  fill(root, form);
}

function signedIn(login) {
  session.save(login);
  forget();
  startLive();
  const next = afterSignIn || defaultRoute();
  afterSignIn = null;
  go(next);
}

function renderCheckIn(root, code) {
  const message = messageArea();
  fill(root, h("section", { class: "card narrow" }, h("h1", {}, t("page.checkin")), message,
    h("p", {}, h("a", { href: "#/mine" }, t("checkin.to_mine")))));
  say(message, t("status.working"));
  api("POST", `checkin/${encodeURIComponent(code)}`)
    .then(async (r) => {
      const seat = (await seatsByID([r.seat_id])).get(r.seat_id);
      say(message, t("checkin.done", { seat: seat?.label ?? r.seat_id }), "ok");
    })
    .catch((err) => say(message, err.describe(), "error"));
}

function renderNotFound(root) {
  fill(root, h("section", { class: "card narrow" }, h("h1", {}, t("page.not_found")),
    h("p", {}, h("a", { href: defaultRoute() }, t("not_found.home")))));
}

async function boot() {
  await loadLanguage();
  document.getElementById("skip").textContent = t("app.skip");
  document.getElementById("skip").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  document.getElementById("toasts").setAttribute("aria-label", t("app.notifications"));
  session.load();
  window.addEventListener("hashchange", route);
  window.addEventListener("dlsms:signed-out", () => {
    stopLive();
    forget();
    afterSignIn = location.hash;
    go("#/login");
  });
  // Signing out in one tab signs out every tab of this browser (a shared library PC).
  window.addEventListener("storage", (e) => {
    if (e.key === "dlsms.session" && !e.newValue && session.token) {
      stopLive();
      session.token = null;
      session.user = null;
      forget();
      go("#/login");
    }
  });
  if (session.token) startLive();
  route();
}

boot();
