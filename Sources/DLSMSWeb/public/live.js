// The live stream of the student's notifications (Server-Sent Events, the token as ?token= since
// EventSource cannot send headers). The browser resumes a dropped stream with Last-Event-ID; when
// the stream is refused or closed for good, it is reopened with backoff from the last id seen
// (kept for the tab, so a reload replays what it missed). Every notification shows a toast and is
// announced to the open page (`dlsms:notification`), which refreshes what it shows.
import { api, ApiError, session, query, cached, seatsByID, localZone } from "./api.js";
import { h, fill, toast } from "./dom.js";
import { t, formatRange, formatDateTime, has } from "./i18n.js";

const TYPES = [
  "seat_offered", "seat_available", "offer_expired", "reservation_no_show", "reservation_completed",
  "reservation_cancelled", "staff_message", "strike_recorded", "suspended", "booked_by_staff",
  "booked_together", "away_ended",
];
const LAST_PREFIX = "dlsms.lastEventId.";
const lastKey = () => LAST_PREFIX + (session.user?.id ?? "");
let source = null;
let retryTimer = null;
let backoff = 1000;
let state = "off";
const indicators = new Set();

export function liveIndicator() {
  const el = h("span", { class: "live", dataset: { state } });
  indicators.add(el);
  paint(el);
  return el;
}

function paint(el) {
  el.dataset.state = state;
  fill(el, h("span", { class: "dot", "aria-hidden": "true" }), t(`live.${state}`));
}

function setState(next) {
  state = next;
  for (const el of [...indicators]) {
    if (!el.isConnected) indicators.delete(el);
    else paint(el);
  }
}

export function startLive() {
  stopLive();
  if (!session.token) return;
  const last = sessionStorage.getItem(lastKey());
  source = new EventSource(`notifications/stream${query({ token: session.token, last_event_id: last })}`);
  setState("connecting");
  source.onopen = () => {
    backoff = 1000;
    setState("on");
    // Whatever changed while the stream was down: the page reloads its data.
    window.dispatchEvent(new CustomEvent("dlsms:changed"));
  };
  source.onerror = () => {
    if (source && source.readyState === EventSource.CLOSED) {
      setState("off");
      source = null;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(async () => {
        // A refused stream may mean the session ended: ask once, so a 401 signs out.
        try {
          await api("GET", "auth/me");
          startLive();
        } catch {
          backoff = Math.min(backoff * 2, 30000);
          if (session.token) startLive();
        }
      }, backoff);
    } else {
      setState("connecting");
    }
  };
  for (const type of TYPES) source.addEventListener(type, (e) => receive(type, e));
}

export function stopLive() {
  clearTimeout(retryTimer);
  if (source) source.close();
  source = null;
  setState("off");
}

async function receive(type, event) {
  if (event.lastEventId) sessionStorage.setItem(lastKey(), event.lastEventId);
  let n;
  try {
    n = JSON.parse(event.data);
  } catch {
    return;
  }
  window.dispatchEvent(new CustomEvent("dlsms:notification", { detail: n }));
  let seat = n.seat_id;
  let zone = "UTC";
  try {
    const [seats, branches] = await Promise.all([seatsByID([n.seat_id]), cached("branches")]);
    const s = seats.get(n.seat_id);
    if (s) {
      seat = s.label;
      zone = branches.branches.find((b) => b.branch === s.branch)?.time_zone || "UTC";
    }
  } catch {
    // labels are a nicety: the id will do
  }
  const when = n.start_time && n.end_time ? formatRange(new Date(n.start_time), new Date(n.end_time), zone) : "";
  const key = `notify.${type}`;
  const until = n.until ? formatDateTime(new Date(n.until), zone === "UTC" ? localZone() : zone) : "?";
  const text = has(key) && type !== "staff_message" ? t(key, { seat, when, until }) : n.message;
  let action;
  if (type === "seat_offered") action = { label: t("action.book_it"), run: () => acceptOffer(n) };
  if (type === "seat_available" && n.start_time && n.end_time) action = { label: t("action.book_it"), run: () => bookFreed(n) };
  if (type === "strike_recorded" || type === "suspended") action = { label: t("nav.rules"), run: () => { location.hash = "#/rules"; } };
  toast(text, { action, kind: type === "seat_offered" || type === "seat_available" ? "offer" : type === "suspended" ? "error" : "info" });
}

/// Books from a toast: the outcome is another toast, and the open page reloads its data.
async function bookFromToast(book) {
  try {
    await book();
    toast(t("live.booked"), { kind: "ok" });
  } catch (err) {
    toast(err.describe ? err.describe() : String(err), { kind: "error" });
  }
  window.dispatchEvent(new CustomEvent("dlsms:changed"));
}

/// Accepts the offer the notification announced (the student's OFFERED entry for that seat).
function acceptOffer(n) {
  return bookFromToast(async () => {
    const mine = await api("GET", "waitlist/mine");
    const entry = mine.waitlist.find((w) => w.status === "OFFERED" && w.offered_seat_id === n.seat_id);
    if (!entry) throw new ApiError(0, "offer_gone", "");
    await api("POST", `waitlist/${entry.id}/accept`);
  });
}

/// Books the freed window the notification announced (before offers existed).
function bookFreed(n) {
  return bookFromToast(() =>
    api("POST", "reservations", { seat_id: n.seat_id, start_time: n.start_time, end_time: n.end_time }));
}
