// The display at a library's entrance (GET /display/{branch}[/{area}]): free seats now and for the
// next hour, per area and on the map, in large type, refreshed every 15 s with If-None-Match.
// No sign-in, nothing about anyone: it reads GET public/display/… only. Its words come from the
// app's tables, in the browser's first language that has one (a kiosk has no menu and no account).
import { t, loadLanguage, currentLanguage } from "./i18n.js";

const REFRESH_MS = 15000;

const root = document.getElementById("display");
const path = location.pathname;
const at = path.lastIndexOf("/display/");
const base = path.slice(0, at + 1);
const place = path.slice(at + "/display/".length).replace(/\/+$/, "");
const api = base + "public/display/" + place;

let etag = null;
// Made once the language is known (start()).
let numbers = null;
let clock = null;

function el(tag, attributes = {}, ...children) {
  const node = tag === "svg" || tag === "rect" || tag === "text" || tag === "title"
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function figure(value, label, kind) {
  return el("div", { class: `kiosk-figure ${kind}` },
    el("span", { class: "kiosk-number" }, numbers.format(value)),
    el("span", { class: "kiosk-label" }, label));
}

/// The seats that have a place on the map, drawn at their places: free now (green, a tick),
/// free now but not for the hour (amber, a clock), taken (grey).
function map(seats) {
  const placed = seats.filter((s) => s.x != null && s.y != null);
  if (placed.length === 0) return null;
  const width = Math.max(...placed.map((s) => s.x)) + 1;
  const height = Math.max(...placed.map((s) => s.y)) + 1;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "kiosk-map", role: "img",
    "aria-label": t("display.map", { free: numbers.format(placed.filter((s) => s.free_now).length), total: numbers.format(placed.length) }) });
  for (const s of placed) {
    const state = s.free_now ? (s.free_next_hour ? "free" : "soon") : "taken";
    const rect = el("rect", { x: s.x + 0.1, y: s.y + 0.1, width: 0.8, height: 0.8, rx: 0.15, class: `kiosk-seat ${state}` },
      el("title", {}, t("display.seat", { label: s.label, state: t(`display.seat_${state}`) })));
    svg.append(rect);
  }
  return svg;
}

function render(d) {
  const title = d.area ? `${d.branch} · ${d.area}` : d.branch;
  document.title = t("display.title", { place: title, free: numbers.format(d.free_now) });
  const areas = el("ul", { class: "kiosk-areas" });
  for (const a of d.areas) {
    areas.append(el("li", { class: "kiosk-area" },
      el("span", { class: "kiosk-area-name" }, a.name),
      el("span", { class: "kiosk-area-free" }, t("display.area_free", { free: numbers.format(a.free_now), total: numbers.format(a.total) }))));
  }
  const drawn = map(d.seats);
  root.replaceChildren(
    el("h1", { class: "kiosk-title" }, title),
    el("div", { class: "kiosk-figures" },
      figure(d.free_now, t("display.free_now"), "now"),
      figure(d.free_next_hour, t("display.free_next_hour"), "hour"),
      figure(d.total, t("display.total"), "total")),
    ...(d.areas.length > 1 ? [areas] : []),
    ...(drawn ? [drawn] : []),
    el("p", { class: "kiosk-updated", "aria-live": "polite" },
      t("display.updated", { time: clock.format(new Date(d.generated_at)) })));
}

function say(text) {
  root.replaceChildren(el("h1", { class: "kiosk-title" }, text));
}

async function refresh() {
  try {
    const r = await fetch(api, { headers: etag ? { "If-None-Match": etag } : {}, cache: "no-cache" });
    if (r.status === 304) return;
    if (r.status === 404) {
      etag = null;
      say(t("display.off"));
      return;
    }
    if (!r.ok) return; // keep what is shown; the next refresh tries again
    etag = r.headers.get("ETag");
    render(await r.json());
  } catch {
    // The network or the server is away: keep what is shown.
  }
}

async function start() {
  await loadLanguage();
  numbers = new Intl.NumberFormat(currentLanguage());
  clock = new Intl.DateTimeFormat(currentLanguage(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  // The server's page says "Free seats…" until the first answer.
  document.title = `${t("display.loading_title")} · ${t("app.name")}`;
  say(t("display.loading"));
  refresh();
  setInterval(refresh, REFRESH_MS);
}

start();
