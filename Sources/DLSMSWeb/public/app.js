// The app shell: sign-in (a password, or the campus sign-in through the server), the header, hash
// routes (#/find, #/mine, #/rules, #/my-data, #/checkin/<code>, #/accept/<waitlist entry>, #/staff/…), focus and title on every page change, and
// the live notification stream.
import { api, session, cached, forget, seatsByID } from "./api.js";
import { h, fill, field, messageArea, say, toast, leaveNote } from "./dom.js";
import { t, has, loadLanguage, LANGUAGES, currentLanguage, languageOf, storedLanguage, storeLanguage, formatRange } from "./i18n.js";
import { startLive, stopLive, liveIndicator } from "./live.js";

// The campus sign-in comes back to the app as #handoff=<one-time code> or #signin_error=<code>.
// Both leave the address at once (before anything else runs): a sign-in code must not stay in the
// history, a bookmark or a shared screenshot.
const arrival = takeArrival();
function takeArrival() {
  if (!/^#(handoff|signin_error)=/.test(location.hash)) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(history.state, "", location.pathname + location.search);
  return { handoff: params.get("handoff"), error: params.get("signin_error") };
}
// Where a campus sign-in goes back to (a QR code's check-in, say): the browser leaves the app for
// the provider, so this tab's sessionStorage keeps it meanwhile.
const WHERE_TO = "dlsms.after_sign_in";
function rememberWhereTo() {
  try {
    if (afterSignIn) sessionStorage.setItem(WHERE_TO, afterSignIn);
    else sessionStorage.removeItem(WHERE_TO);
  } catch {
    // storage turned off: the app's start page it is
  }
}
function takeWhereTo() {
  try {
    const where = sessionStorage.getItem(WHERE_TO);
    sessionStorage.removeItem(WHERE_TO);
    return where && where.startsWith("#/") && !where.startsWith("#/login") ? where : null;
  } catch {
    return null;
  }
}
/// A message for the next sign-in page (a failed campus sign-in, an erased account): given the
/// sign-in options, its text, or `{ text, kind }` for one that is not an error.
let signInNotice = null;

const main = document.getElementById("main");
const pages = {
  find: { module: () => import("./find.js"), title: "nav.find" },
  mine: { module: () => import("./mine.js"), title: "nav.mine" },
  rules: { module: () => import("./rules.js"), title: "page.rules" },
  "my-data": { module: () => import("./mydata.js"), title: "page.my_data" },
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
    links.push(["#/find", t("nav.find"), "find"], ["#/mine", t("nav.mine"), "mine"], ["#/rules", t("nav.rules"), "rules"],
      ["#/my-data", t("nav.my_data"), "my-data"]);
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

/// Signs out at the server first (the token is refused from then on; a failure or a slow server
/// does not keep anyone signed in here), then here; a campus account may also end its session at
/// the provider, whose page the server names.
async function signOut(e) {
  if (e?.currentTarget) e.currentTarget.disabled = true;
  stopLive();
  let answer = null;
  if (session.token) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 5000);
    try {
      answer = await api("POST", "auth/logout", undefined, { signal: abort.signal });
    } catch {
      // signed out in this browser all the same
    }
    clearTimeout(timer);
  }
  session.clear();
  forget();
  afterSignIn = null;
  go("#/login");
  const provider = answer?.end_session_url;
  if (typeof provider === "string" && /^https?:\/\//i.test(provider)) location.assign(provider);
}

/// Shows a page: title, heading focus (screen readers hear where they are), the header's state.
function show(titleKey, build, ...args) {
  if (cleanup) cleanup();
  cleanup = null;
  // A dialog of the page left (the Back button while it was open) goes with it.
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
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
  if (/^#(handoff|signin_error)=/.test(location.hash)) return arrive(takeArrival());
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
  if (name === "accept") {
    // The link of a waitlist offer's email: #/accept/<entry id>, digits only.
    if (args.length !== 1 || !/^\d{1,18}$/.test(args[0])) return show("page.not_found", renderNotFound);
    return show("page.accept", renderAccept, args[0]);
  }
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

/// How this server signs people in (`GET auth/providers`); a server without that answer has
/// passwords only.
async function signInOptions() {
  const plain = { local: "all", registration: null, ldap: false, oidc: null, sso: null };
  try {
    return { ...plain, ...(await cached("auth/providers", 60000)) };
  } catch {
    return plain;
  }
}

/// A failed campus sign-in in words (codes of #signin_error and of the server's refusals).
function campusErrorText(code, options) {
  const known = /^[a-z_]{1,40}$/.test(code || "") && has(`signin_error.${code}`);
  let text = t(known ? `signin_error.${code}` : "signin_error.unknown");
  if (code === "identity_provider_unavailable" && (options.local !== "off" || options.ldap)) {
    text += ` ${t(options.local === "staff" && !options.ldap ? "sign_in.staff_still" : "sign_in.password_still")}`;
  }
  return text;
}

async function renderSignIn(root) {
  const notice = messageArea();
  const card = h("section", { class: "card narrow", "aria-labelledby": "sign-in-heading" },
    h("h1", { id: "sign-in-heading" }, t("page.sign_in")),
    h("p", { class: "aside" }, t("sign_in.intro")),
    notice);
  fill(root, card);
  const options = await signInOptions();
  if (signInNotice) {
    const said = signInNotice(options);
    say(notice, said?.text ?? said, said?.kind ?? "error");
    signInNotice = null;
  }
  const campus = [];
  if (options.oidc) campus.push(oidcButton(options, notice));
  if (options.sso) {
    campus.push(h("a", { class: "button primary", href: "auth/sso", onclick: rememberWhereTo }, t("sign_in.with", { name: options.sso.name })));
  }
  if (campus.length) card.append(h("div", { class: "campus" }, campus));
  const withPassword = options.local !== "off" || options.ldap;
  if (withPassword) card.append(...passwordSignIn(options, campus.length > 0));
  if (!withPassword && !campus.length) card.append(h("p", {}, t("sign_in.none")));
  if (withPassword && options.local === "all") {
    const registration = h("p", { class: "aside" });
    card.append(registration);
    const open = options.registration ?? cached("rules").then((rules) => rules.self_registration);
    Promise.resolve(open).then((yes) => {
      if (yes) fill(registration, t("sign_in.no_account"), " ", h("a", { href: "#/register" }, t("sign_in.register")));
    }).catch(() => {});
  }
  card.append(privacyLink());
}

/// The privacy notice (`GET privacy`, a page of its own, readable before signing in).
function privacyLink() {
  return h("p", { class: "aside privacy-note" }, t("privacy.before_link"), " ", h("a", { href: "privacy", class: "privacy-link" }, t("privacy.link")));
}

/// "Sign in with <provider>": the server gives the provider's address (state, nonce and PKCE are
/// its business); a provider that is down is said at once, with what still works.
function oidcButton(options, notice) {
  let busy = false;
  const button = h("button", { type: "button", class: "primary" }, t("sign_in.with", { name: options.oidc.name }));
  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    button.setAttribute("aria-busy", "true");
    say(notice, t("sign_in.campus_going"));
    try {
      const { authorization_url: url } = await api("GET", "auth/oidc/start");
      if (typeof url !== "string" || !/^https?:\/\//i.test(url)) throw new Error("no provider address");
      rememberWhereTo();
      location.assign(url);
    } catch (err) {
      const code = err.status === 503 || err.code === "network" ? "identity_provider_unavailable" : err.code;
      say(notice, campusErrorText(code, options), "error");
      busy = false;
      button.removeAttribute("aria-busy");
    }
  });
  return button;
}

/// The password form: DL-SMS's own accounts, and the campus directory's (LDAP) when it is on.
function passwordSignIn(options, afterCampus) {
  const campusPassword = options.ldap;
  const staffOnly = options.local === "staff" && !campusPassword;
  const id = h("input", { name: "student_id", autocomplete: "username", required: true, autofocus: !afterCampus });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = messageArea();
  const hint = campusPassword && options.local !== "off"
    ? t(options.local === "staff" ? "sign_in.staff_password_too" : "sign_in.local_password_too") : null;
  const heading = staffOnly ? t("sign_in.staff") : afterCampus ? t(campusPassword ? "sign_in.or_campus_password" : "sign_in.or_password") : null;
  const form = h("form", { class: "password-sign-in", novalidate: true, "aria-labelledby": heading ? "password-heading" : null },
    field(t(campusPassword ? "field.campus_user" : "field.student_id"), id),
    field(t(campusPassword ? "field.campus_password" : "field.password"), password, hint),
    h("div", { class: "actions" }, h("button", { type: "submit", class: campusPassword || !afterCampus ? "primary" : "" }, t("action.sign_in"))),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!id.value.trim() || !password.value) return say(message, t(campusPassword ? "sign_in.missing_campus" : "sign_in.missing"), "error");
    say(message, t("status.working"));
    try {
      const login = await api("POST", "auth/login", { student_id: id.value.trim(), password: password.value });
      signedIn(login);
    } catch (err) {
      const text = err.code === "unauthorized" && campusPassword ? t("sign_in.wrong_campus") : err.describe ? err.describe() : String(err);
      say(message, text, "error");
      password.select();
    }
  });
  return [
    heading ? h("h2", { class: "or", id: "password-heading" }, heading) : null,
    staffOnly ? h("p", { class: "aside" }, t("sign_in.staff_note")) : null,
    form,
  ].filter(Boolean);
}

/// Back from the campus sign-in (the address is clean already): a code to finish with, or why not.
function arrive({ handoff, error }) {
  if (handoff) return finishCampusSignIn(handoff);
  afterSignIn = takeWhereTo() || afterSignIn;
  if (session.token) toast(campusErrorText(error, {}), { kind: "error" });
  else signInNotice = (options) => campusErrorText(error, options);
  return route();
}

/// Finishes a campus sign-in: the one-time code becomes a session, exactly as a password does.
async function finishCampusSignIn(code) {
  document.title = `${t("page.signing_in")} – ${t("app.name")}`;
  fill(main, h("section", { class: "card narrow" }, h("h1", {}, t("page.signing_in")),
    h("p", { class: "loading", role: "status" }, t("status.working"))));
  const whereTo = takeWhereTo();
  try {
    const login = await api("POST", "auth/handoff", { code });
    afterSignIn = whereTo || afterSignIn;
    signedIn(login);
  } catch (err) {
    afterSignIn = whereTo || afterSignIn;
    const why = err.status === 401 ? "handoff_expired" : err.code === "network" ? "network" : err.code;
    if (session.token) {
      toast(campusErrorText(why, {}), { kind: "error" });
    } else {
      signInNotice = (options) => campusErrorText(why, options);
    }
    route();
  }
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
    h("p", { class: "aside" }, h("a", { href: "#/login" }, t("register.have_account"))),
    privacyLink());
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
  // The account's language, when this browser has no choice of its own and it differs.
  if (!storedLanguage()) {
    accountLanguage().then((code) => {
      if (code && code !== currentLanguage() && session.token) location.reload();
    });
  }
}

function renderCheckIn(root, code) {
  const message = messageArea();
  fill(root, h("section", { class: "card narrow" }, h("h1", {}, t("page.checkin")), message,
    h("p", {}, h("a", { href: "#/mine" }, t("checkin.to_mine")))));
  say(message, t("status.working"));
  api("POST", `checkin/${encodeURIComponent(code)}`)
    .then(async (r) => {
      const seat = (await seatsByID([r.seat_id])).get(r.seat_id);
      say(message, t("checkin.done", { label: seat?.label ?? r.seat_id }), "ok");
    })
    .catch((err) => say(message, err.describe(), "error"));
}

/// A waitlist offer accepted from its email's link (`POST waitlist/<id>/accept`); then My
/// reservations (in place of this page in the history: Back does not accept again) says how it
/// went: the seat booked, or why not (the hold ran out, the offer is no longer open …).
function renderAccept(root, id) {
  const message = messageArea();
  fill(root, h("section", { class: "card narrow" }, h("h1", {}, t("page.accept")), message,
    h("p", {}, h("a", { href: "#/mine" }, t("checkin.to_mine")))));
  say(message, t("accept.working"));
  const here = location.hash;
  api("POST", `waitlist/${id}/accept`)
    .then(async (r) => {
      let text = t("live.booked");
      try {
        const [seats, branches] = await Promise.all([seatsByID([r.seat_id]), cached("branches", 30000)]);
        const seat = seats.get(r.seat_id);
        const zone = branches.branches.find((b) => b.branch === seat?.branch)?.time_zone || "UTC";
        if (seat) text = t("find.booked", { label: seat.label, when: formatRange(new Date(r.start_time), new Date(r.end_time), zone) });
      } catch {
        // the seat's name could not be looked up: the plain words do
      }
      return { text, kind: "ok" };
    }, (err) => {
      // A session that ended signs in again and comes back here (the app remembers where).
      if (err.status === 401) return null;
      return { text: t("accept.failed", { reason: err.describe ? err.describe() : t("error.unknown") }), kind: "error" };
    })
    .then((outcome) => {
      if (!outcome) return;
      if (location.hash !== here || !session.token) {
        // Gone elsewhere meanwhile: said where the student is now.
        toast(outcome.text, { kind: outcome.kind });
        return;
      }
      leaveNote(outcome.text, outcome.kind);
      history.replaceState(history.state, "", "#/mine");
      route();
    });
}

function renderNotFound(root) {
  fill(root, h("section", { class: "card narrow" }, h("h1", {}, t("page.not_found")),
    h("p", {}, h("a", { href: defaultRoute() }, t("not_found.home")))));
}

/// The signed-in account's language (`GET me/preferences`), or null: none set, or a server
/// without that route yet (404) or any other failure.
async function accountLanguage() {
  try {
    const preferences = await api("GET", "me/preferences");
    return typeof preferences?.language === "string" ? languageOf(preferences.language) : null;
  } catch {
    return null;
  }
}

/// The language this page starts in: the menu's choice in this browser, else the account's
/// (when signed in), else the browser's languages (`loadLanguage`), else English.
async function startLanguage() {
  return storedLanguage() ?? (session.token ? await accountLanguage() : null);
}

/// The language menu in the header: every language named in itself; choosing one and pressing
/// the button (a choice alone changes nothing, so the keyboard can go through the list) keeps it in
/// this browser and, signed in, on the account, then reloads the page in it.
function renderLanguageMenu() {
  const group = document.getElementById("language");
  const select = h("select", { id: "language-select", name: "language" },
    LANGUAGES.map(({ code, name }) => h("option", { value: code, lang: code, selected: code === currentLanguage() }, name)));
  select.value = currentLanguage();
  const label = h("label", { for: select.id, id: "language-label" }, t("language.label"));
  const button = h("button", { type: "button", "aria-describedby": label.id }, t("language.apply"));
  group.setAttribute("aria-labelledby", label.id);
  fill(group, label, select, button);
  button.addEventListener("click", async () => {
    const code = languageOf(select.value) ?? "en";
    button.disabled = true;
    storeLanguage(code);
    if (session.token) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 5000);
      try {
        await api("PUT", "me/preferences", { language: code }, { signal: abort.signal });
      } catch {
        // 404: the server has no preferences yet; any other failure: this browser keeps the choice
      }
      clearTimeout(timer);
    }
    location.reload();
  });
}

async function boot() {
  session.load();
  await loadLanguage(await startLanguage());
  document.getElementById("skip").textContent = t("app.skip");
  document.getElementById("nav").setAttribute("aria-label", t("app.main_nav"));
  renderLanguageMenu();
  document.getElementById("skip").addEventListener("click", (e) => {
    e.preventDefault();
    main.focus();
  });
  document.getElementById("toasts").setAttribute("aria-label", t("app.notifications"));
  window.addEventListener("hashchange", route);
  window.addEventListener("dlsms:signed-out", (e) => {
    stopLive();
    forget();
    if (e.detail?.erased) {
      // The account is gone: nothing to come back to, and the sign-in page says so.
      afterSignIn = null;
      signInNotice = () => ({ text: t("my_data.erased"), kind: "ok" });
    } else {
      afterSignIn = location.hash;
    }
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
  if (arrival) arrive(arrival);
  else route();
}

boot();
