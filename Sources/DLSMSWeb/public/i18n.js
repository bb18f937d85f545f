// Every string a person sees comes from one table per language (strings-<lang>.js); a translation
// is one such file (and its line in WebFiles.swift). Dates and times are formatted by Intl in the
// branch's own time zone, so a student abroad sees the library's clock.
import en from "./strings-en.js";

let table = en;
let locale = "en";

/// Loads the table of the browser's first language that has one (English otherwise).
export async function loadLanguage() {
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const lang = String(wanted).toLowerCase().split("-")[0];
    if (!/^[a-z]{2,3}$/.test(lang)) continue;
    if (lang === "en") break;
    try {
      table = { ...en, ...(await import(`./strings-${lang}.js`)).default };
      locale = wanted;
      break;
    } catch {
      // no table for this language: try the next one
    }
  }
  document.documentElement.lang = locale;
}

/// The string `key`, with `{name}` placeholders filled from `params`.
export function t(key, params = {}) {
  let text = table[key] ?? en[key];
  if (text === undefined) {
    console.warn("missing string", key);
    text = key;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] ?? `{${name}}`).toString());
}

/// Whether the table has `key` (for error codes the server may add later).
export function has(key) {
  return key in table || key in en;
}

function formatter(zone, options) {
  return new Intl.DateTimeFormat(locale, { timeZone: zone || "UTC", ...options });
}

export function formatTime(date, zone) {
  return formatter(zone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(date);
}

export function formatDate(date, zone) {
  return formatter(zone, { weekday: "short", day: "numeric", month: "short" }).format(date);
}

export function formatDateTime(date, zone) {
  return `${formatDate(date, zone)} ${formatTime(date, zone)}`;
}

export function formatRange(start, end, zone) {
  return t("time.range", { day: formatDate(start, zone), start: formatTime(start, zone), end: formatTime(end, zone) });
}

export function formatNumber(n, digits = 0) {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(n);
}

/// Minutes and seconds until `ms` milliseconds from now, "12:05" (or "1:02:05").
export function formatCountdown(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// Wall-clock time in an IANA zone <-> instants, without a library: Intl tells the zone's offset
// at an instant, and two rounds settle the offset of a local time (daylight saving included).

/// The zone's parts (year … second) of an instant.
export function zoneParts(date, zone) {
  const parts = {};
  for (const p of formatter(zone, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", weekday: "long",
  }).formatToParts(date)) parts[p.type] = p.value;
  return parts;
}

function offsetMs(date, zone) {
  const p = zoneParts(date, zone);
  const asUTC = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
  return asUTC - Math.floor(date.getTime() / 1000) * 1000;
}

/// The instant of a local date "YYYY-MM-DD" and time "HH:MM" in `zone`.
export function zonedInstant(day, time, zone) {
  const [y, mo, d] = day.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let guess = wall - offsetMs(new Date(wall), zone);
  guess = wall - offsetMs(new Date(guess), zone);
  return new Date(guess);
}

/// The local date "YYYY-MM-DD" of an instant in `zone`.
export function zonedDay(date, zone) {
  const p = zoneParts(date, zone);
  return `${p.year}-${p.month}-${p.day}`;
}

/// The local time "HH:MM" of an instant in `zone`.
export function zonedTime(date, zone) {
  const p = zoneParts(date, zone);
  return `${String(+p.hour % 24).padStart(2, "0")}:${p.minute}`;
}

/// The English weekday name (the API's key) of a local date.
export function weekdayOf(day) {
  const [y, m, d] = day.split("-").map(Number);
  return ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"][
    new Date(Date.UTC(y, m - 1, d)).getUTCDay()
  ];
}

/// "YYYY-MM-DD" `n` days after `day`.
export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}
