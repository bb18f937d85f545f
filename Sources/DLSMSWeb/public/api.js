// The page is a client of the public REST contract only: every call goes through `api`, with the
// session's bearer token. URLs are relative (none starts with "/"), for a proxy's path prefix.
import { t, has, formatDateTime, currentLanguage } from "./i18n.js";

const KEY = "dlsms.session";
/// The find page's last search (library, area, features), kept for this tab's session only.
export const FIND_KEY = "dlsms.find";

export class ApiError extends Error {
  constructor(status, code, message, body = null, retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    /// The whole refusal (`opens_at`, `until`, `reasons`, `rule`, `limit`, …).
    this.body = body || {};
    /// Seconds from a 429's Retry-After, when it has one.
    this.retryAfter = retryAfter;
  }

  /// The refusal in words: the table's text for the code, with the server's detail when it adds one.
  describe() {
    const b = this.body;
    const when = (v) => (typeof v === "string" && !Number.isNaN(Date.parse(v)) ? formatDateTime(new Date(v), localZone()) : "?");
    if (this.code === "suspended") {
      const reasons = Array.isArray(b.reasons) && b.reasons.length ? ` ${t("error.suspended_reasons", { reasons: b.reasons.join("; ") })}` : "";
      return t("error.suspended", { until: when(b.until) }) + reasons;
    }
    if (this.code === "not_open_yet") return t("error.not_open_yet", { when: when(b.opens_at) });
    if (this.code === "rate_limited" && this.retryAfter) return t("error.rate_limited_after", { seconds: this.retryAfter });
    if (this.code === "limit_reached" && typeof b.rule === "string" && has(`limit_rule.${b.rule}`)) {
      return t("error.limit_reached_rule", { rule: t(`limit_rule.${b.rule}`, { limit: b.limit ?? "?" }) });
    }
    const key = `error.${this.code}`;
    if (has(key)) return t(key, { detail: plainWords(this.message) });
    return this.message || t("error.unknown");
  }
}

/// A server's detail with its API field names in words ("time_zone: …" → "Time zone: …").
export function plainWords(detail) {
  return String(detail ?? "").replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (name) => {
    if (has(`field.${name}`)) return t(`field.${name}`);
    const words = name.replace(/_/g, " ");
    return words;
  });
}

/// The browser's own time zone (a suspension's end has no library to take one from).
export const localZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/// The server's clock as seen from here: `offset` ms to add to Date.now(). Measured from an
/// answer's `server_time` against the moment the answer arrived, so it is never ahead of the
/// server (an instant counted on it is reached at the server no later than here).
export const serverClock = {
  offset: 0,
  measured: false,
  /// `sentAt` and `arrivedAt` are Date.now() around the request.
  measure(serverTime, arrivedAt) {
    const at = Date.parse(serverTime);
    if (Number.isNaN(at)) return;
    this.offset = at - arrivedAt;
    this.measured = true;
  },
  now() {
    return Date.now() + this.offset;
  },
};

/// `GET path` for an answer that carries `server_time`; the server clock is measured from it.
export async function timed(path) {
  const answer = await api("GET", path);
  serverClock.measure(answer?.server_time, Date.now());
  return answer;
}

/// The signed-in user and token; survives a reload (localStorage), ends with `signOut` or a 401.
export const session = {
  token: null,
  user: null,
  load() {
    try {
      const saved = JSON.parse(localStorage.getItem(KEY) || "null");
      if (saved && saved.token && saved.user && Date.parse(saved.expires_at) > Date.now()) {
        Object.assign(this, saved);
      }
    } catch {
      localStorage.removeItem(KEY);
    }
  },
  save(login) {
    // A new sign-in starts from a fresh search (a shared PC: not the last person's filters).
    sessionStorage.removeItem(FIND_KEY);
    this.token = login.token;
    this.expires_at = login.expires_at;
    this.user = { id: login.user_id, student_id: login.student_id, name: login.name, role: login.role };
    localStorage.setItem(KEY, JSON.stringify({ token: this.token, expires_at: this.expires_at, user: this.user }));
  },
  clear() {
    sessionStorage.removeItem(FIND_KEY);
    this.token = null;
    this.user = null;
    localStorage.removeItem(KEY);
  },
  get isAdmin() {
    return this.user?.role === "admin";
  },
};

/// Calls the API: JSON in and out; a non-2xx answer throws an ApiError with the contract's code.
/// `text` sends a body as it is (CSV) with its own content type: `{ text, type }`; `signal` aborts.
export async function api(method, path, body, { raw = false, text, type, signal } = {}) {
  // The server words what it sends on (notifications) in the app's language.
  const headers = { "Accept-Language": currentLanguage() };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (text !== undefined) headers["Content-Type"] = type;
  let response;
  try {
    const payload = text !== undefined ? text : body === undefined ? undefined : JSON.stringify(body);
    response = await fetch(path, { method, headers, body: payload, signal });
  } catch {
    throw new ApiError(0, "network", t("error.network"));
  }
  if (!response.ok) {
    let error = null;
    try {
      error = await response.json();
    } catch {
      // not the contract's JSON (a proxy's page): the status says enough
    }
    // A 401 means the session ended, except where it answers for another credential (a password,
    // a one-time sign-in code) or for the sign-out itself.
    if (response.status === 401 && session.token && !/^auth\/(login|handoff|logout)/.test(path)) {
      session.clear();
      window.dispatchEvent(new CustomEvent("dlsms:signed-out", { detail: { expired: true } }));
    }
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.error ?? response.statusText, error,
      Number.isFinite(retry) ? retry : null);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/// A query string from an object, leaving out empty values.
/// Spaces are %20, not "+": the server reads "+" as itself (an RFC 3339 offset).
export function query(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/// Path segment escaping for names (branch and area names have spaces).
export const seg = (s) => encodeURIComponent(s);

/// Downloads an authenticated file (CSV, SVG) as `name`.
export async function download(path, name) {
  const response = await api("GET", path, undefined, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/// Seconds-precision RFC 3339 UTC, as the API writes it.
export const iso = (date) => new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace(".000Z", "Z");

/// Cached GETs that change rarely (branches, rules, the seat catalog), dropped on sign-out.
const cache = new Map();
export function cached(path, maxAgeMs = 60000) {
  const hit = cache.get(path);
  if (hit && Date.now() - hit.at < maxAgeMs) return hit.promise;
  const promise = api("GET", path);
  cache.set(path, { at: Date.now(), promise });
  promise.catch(() => cache.delete(path));
  return promise;
}
/// The seats with these ids (a Map by id), as `GET /seats?ids=` answers them: the catalog may be
/// far larger than a page, so the app asks for the seats it shows, a page at a time, and keeps
/// each for a minute (`forget("seats")` drops them).
export async function seatsByID(ids) {
  const wanted = [...new Set(ids.filter((id) => Number.isInteger(id) && id > 0))];
  const out = new Map();
  const missing = [];
  for (const id of wanted) {
    const hit = cache.get(`seats#${id}`);
    if (hit && Date.now() - hit.at < 60000) out.set(id, hit.seat);
    else missing.push(id);
  }
  for (let i = 0; i < missing.length; i += 1000) {
    const part = missing.slice(i, i + 1000);
    const page = await api("GET", `seats${query({ available_only: false, ids: part.join(","), limit: 1000 })}`);
    for (const seat of page.seats) {
      cache.set(`seats#${seat.id}`, { at: Date.now(), seat, promise: Promise.resolve(seat) });
      out.set(seat.id, seat);
    }
  }
  return out;
}
export function forget(prefix = "") {
  for (const k of [...cache.keys()]) if (k.startsWith(prefix)) cache.delete(k);
}
