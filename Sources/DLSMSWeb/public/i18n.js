// Every string a person sees comes from one table per language (strings-<lang>.js); a translation
// is one such file (its line in WebFiles.swift, its entry in LANGUAGES and FILES below). Dates and times are formatted by Intl in the
// branch's own time zone, so a student abroad sees the library's clock.
import en from "./strings-en.js";

/// The languages the app has, each named in itself (the language menu's options). A tag maps to
/// one by its first subtag: en* → en, de* (de-DE, de-AT, de-CH …) → de, zh* → zh-CN. Traditional
/// Chinese (zh-TW, zh-HK, zh-Hant) has no table of its own yet and gets Simplified Chinese, which
/// its readers read more easily than English.
export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "de", name: "Deutsch" },
  { code: "zh-CN", name: "中文（简体）" },
];
/// Where the language menu's choice is kept (this browser's choice wins over the account's).
export const LANGUAGE_KEY = "dlsms.language";
const FILES = { de: "./strings-de.js", "zh-CN": "./strings-zh-CN.js" };

let table = en;
let locale = "en";

/// The app's language code ("en", "de", "zh-CN") of a language tag, or null when it has none.
export function languageOf(tag) {
  const parts = String(tag ?? "").trim().toLowerCase().split(/[-_]/);
  if (parts[0] === "en") return "en";
  if (parts[0] === "de") return "de";
  if (parts[0] === "zh") return "zh-CN";
  return null;
}

/// The language chosen in this browser's menu, if any.
export function storedLanguage() {
  try {
    return languageOf(localStorage.getItem(LANGUAGE_KEY));
  } catch {
    return null; // storage turned off
  }
}

/// Remembers the menu's choice in this browser.
export function storeLanguage(code) {
  try {
    localStorage.setItem(LANGUAGE_KEY, code);
  } catch {
    // storage turned off: the choice lasts this page only
  }
}

/// The first of the browser's languages the app has (English otherwise).
export function browserLanguage() {
  for (const wanted of navigator.languages?.length ? navigator.languages : [navigator.language || "en"]) {
    const code = languageOf(wanted);
    if (code) return code;
  }
  return "en";
}

/// The language in use: "en", "de" or "zh-CN" (also the locale of dates and numbers).
export const currentLanguage = () => locale;

/// Loads the table of `wanted` (a language tag, e.g. the menu's choice or the account's
/// preference) or, without one, of the browser's first language that has one (English otherwise);
/// the page's `lang` follows.
export async function loadLanguage(wanted = null) {
  const code = languageOf(wanted) ?? browserLanguage();
  table = en;
  locale = "en";
  if (FILES[code]) {
    try {
      table = { ...en, ...(await import(FILES[code])).default };
      locale = code;
    } catch {
      // the table could not be fetched: English it is
    }
  }
  document.documentElement.lang = locale;
  return locale;
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

function formatter(zone, options, inLocale = locale) {
  return new Intl.DateTimeFormat(inLocale, { timeZone: zone || "UTC", ...options });
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

/// The zone's parts (year … second) of an instant, as numbers in ASCII digits whatever the
/// language (they are for arithmetic, not for reading).
export function zoneParts(date, zone) {
  const parts = {};
  for (const p of formatter(zone, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23", weekday: "long",
  }, "en-US").formatToParts(date)) parts[p.type] = p.value;
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
