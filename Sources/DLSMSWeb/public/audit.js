// The staff's audit trail (`GET admin/audit`): who did what to which account, seat, library or
// group, from where, and what it was before and after; filtered by who, what and when, newest
// first, a page at a time (`next_before`), and the same filters as a CSV file (`admin/audit.csv`).
import { api, query, iso, download } from "./api.js";
import { h, fill, field, messageArea, say } from "./dom.js";
import { t, has, currentLanguage } from "./i18n.js";
import { findStudent } from "./groups.js";

/// The kinds of entry the server writes (docs/privacy.md), in the order of the kind menu.
export const KINDS = [
  "staff.sign_in",
  "reservation.booked_on_behalf", "reservation.cancelled_by_staff", "reservation.moved_by_staff",
  "seat.created", "seat.changed", "seat.maintenance", "seat.retired", "area.retired",
  "branch.created", "branch.hours", "branch.release", "branch.checkin", "branch.display", "seat_codes.rotated", "catalog.imported",
  "closure.created", "closure.changed", "closure.removed",
  "group.policy_set", "group.policy_removed", "group.members_set", "group.imported",
  "strike.removed", "suspension.lifted",
  "account.created", "account.disabled", "account.enabled", "account.password_reset", "account.sessions_revoked", "account.erased",
  "webhook.registered", "webhook.removed", "backup.created", "standby.promoted",
];
const PAGE_SIZE = 50;
/// How many changed fields a row shows before the rest goes under "All of it".
const SHOWN_CHANGES = 4;
/// How long a value may be in the compact view.
const SHORT = 48;

/// An API refusal in words, or the message of a filter refused here (without "Error: ").
const errorText = (err) => (err.describe ? err.describe() : err.message || String(err));
const kindText = (kind) => (has(`audit_kind.${kind}`) ? t(`audit_kind.${kind}`) : kind);
/// A time in the app's language and the browser's time zone, with the year (the trail spans years).
const stamp = new Intl.DateTimeFormat(currentLanguage(), { dateStyle: "medium", timeStyle: "medium" });

/// "YYYY-MM-DD" + `days` as the instant of that local midnight (the browser's time zone).
function localMidnight(day, days = 0) {
  const [y, m, d] = day.split("-").map(Number);
  return iso(new Date(y, m - 1, d + days));
}

export async function audit(root) {
  const actor = h("input", { name: "audit-actor", autocomplete: "off", spellcheck: "false", maxlength: 64 });
  const subject = h("input", { name: "audit-subject", autocomplete: "off", spellcheck: "false", maxlength: 200 });
  const kind = h("select", { name: "audit-kind" },
    h("option", { value: "" }, t("audit.any_kind")), KINDS.map((k) => h("option", { value: k }, kindText(k))));
  const from = h("input", { type: "date", name: "audit-from" });
  const to = h("input", { type: "date", name: "audit-to" });
  const size = h("input", { type: "number", name: "audit-limit", min: 1, max: 200, step: 1, inputmode: "numeric", value: PAGE_SIZE });
  const message = messageArea();
  const list = h("div", { class: "audit-list" });
  /// The `before` of each page shown so far (the newest page's is none): Newer goes back one.
  let pages = [null];

  /// The filters as the API takes them; a staff ID (not a number) is looked up to its account.
  async function filters() {
    const who = actor.value.trim();
    let actorID = "";
    if (/^\d+$/.test(who)) actorID = who;
    else if (who) {
      const found = await findStudent(who);
      if (!found) throw new Error(t("audit.no_actor", { id: who.length > 40 ? `${who.slice(0, 40)}…` : who }));
      actorID = found.id;
    }
    if (from.value && to.value && from.value > to.value) throw new Error(t("audit.bad_days"));
    return {
      actor_id: actorID, subject: subject.value.trim(), kind: kind.value,
      from: from.value ? localMidnight(from.value) : "", to: to.value ? localMidnight(to.value, 1) : "",
    };
  }

  function pageSize() {
    const n = Number(size.value);
    if (!Number.isInteger(n) || n < 1 || n > 200) throw new Error(t("audit.bad_limit"));
    return n;
  }

  let loading = 0;
  async function load() {
    const mine = ++loading;
    say(message, t("status.loading"));
    try {
      const before = pages[pages.length - 1];
      const page = await api("GET", `admin/audit${query({ ...(await filters()), before, limit: pageSize() })}`);
      if (mine !== loading) return; // newer filters were sent meanwhile
      say(message, "");
      const entries = page.entries || [];
      const newer = pages.length > 1;
      const older = page.next_before !== null && page.next_before !== undefined;
      if (!entries.length) {
        fill(list, h("p", { class: "empty" }, t(newer ? "audit.no_older" : "audit.none")),
          pager(newer, false, null));
        return;
      }
      fill(list, entryTable(entries, newer), pager(newer, older, page.next_before));
    } catch (err) {
      if (mine !== loading) return;
      // Old rows would read as the answer to the new filters.
      fill(list);
      say(message, errorText(err), "error");
    }
  }

  /// Newer and Older: a page of the trail before `next` (a `seq`); focus stays on the pager.
  function pager(newer, older, next) {
    if (!newer && !older) return null;
    const move = async (step) => {
      if (step > 0) pages.push(next);
      else pages.pop();
      await load();
      // The same button if it still goes somewhere, else the other one (or the table's caption).
      const same = list.querySelector(step > 0 ? ".audit-older:not(:disabled)" : ".audit-newer:not(:disabled)");
      (same || list.querySelector(".pager button:not(:disabled)") || list.querySelector("caption"))?.focus();
    };
    return h("nav", { class: "pager", "aria-label": t("audit.pages") },
      h("button", { type: "button", class: "audit-newer", disabled: !newer, onclick: () => move(-1) }, t("audit.newer")),
      h("span", {}, t("audit.page", { n: pages.length })),
      h("button", { type: "button", class: "audit-older", disabled: !older, onclick: () => move(1) }, t("audit.older")));
  }

  const form = h("form", { class: "card search audit-filters", novalidate: true },
    h("p", { class: "aside" }, t("audit.intro")),
    h("div", { class: "row" },
      field(t("audit.actor"), actor, t("audit.actor_hint")),
      field(t("audit.subject"), subject, t("audit.subject_hint")),
      field(t("audit.kind"), kind)),
    h("div", { class: "row" },
      field(t("field.from_day"), from, t("audit.days_hint")),
      field(t("field.to_day"), to),
      field(t("audit.limit"), size, t("audit.limit_hint"))),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("action.filter")),
      h("button", {
        type: "button", class: "audit-csv",
        onclick: async () => {
          try {
            await download(`admin/audit.csv${query(await filters())}`, "audit.csv");
          } catch (err) {
            say(message, errorText(err), "error");
          }
        },
      }, t("action.download_csv"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    pages = [null];
    load();
  });
  fill(root, form, message, list);
  await load();
}

/// The page's entries as a table: newest first, as the server sends them.
function entryTable(entries, older) {
  const columns = [
    [t("audit.column_seq"), (e) => String(e.seq)],
    [t("audit.column_at"), (e) => when(e.at)],
    [t("audit.column_actor"), (e) => [e.actor ?? "?", h("span", { class: "source" }, t("audit.account_number", { id: e.actor_id ?? "?" }))]],
    [t("audit.column_address"), (e) => h("span", { class: "address" }, e.address || "–")],
    [t("audit.column_kind"), (e) => [kindText(e.kind), h("code", { class: "kind" }, e.kind)]],
    [t("audit.column_subject"), (e) => h("span", { class: "subject" }, e.subject || "–")],
    [t("audit.column_reason"), (e) => e.reason || "–"],
    [t("audit.column_change"), (e) => change(e.before, e.after)],
  ];
  const first = entries[0].seq;
  const last = entries[entries.length - 1].seq;
  return h("div", { class: "table-wrap" },
    h("table", { class: "audit" },
      h("caption", { tabindex: "-1" }, t(older ? "audit.caption_older" : "audit.caption", { first, last, n: entries.length })),
      h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, entries.map((e) => h("tr", { dataset: { seq: e.seq, kind: e.kind } },
        columns.map(([, cell]) => h("td", {}, cell(e))))))));
}

function when(at) {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at ?? "?";
  return h("time", { datetime: at, title: at }, stamp.format(date));
}

const isRecord = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/// A value in a few characters: strings as they are, the rest as JSON; null as a dash.
function short(v) {
  if (v === undefined || v === null) return "–";
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text.length > SHORT ? `${text.slice(0, SHORT - 1)}…` : text;
}

/// What changed, compactly: one "field: before → after" line per changed field (a new record's
/// fields as "→ value", a removed one's as "value → –"); the whole of both under "All of it" when
/// anything was left out.
function change(before, after) {
  if ((before === null || before === undefined) && (after === null || after === undefined)) return "–";
  const lines = [];
  if (isRecord(before) || isRecord(after)) {
    const b = isRecord(before) ? before : {};
    const a = isRecord(after) ? after : {};
    for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])]) {
      if (JSON.stringify(b[key]) === JSON.stringify(a[key])) continue;
      lines.push([key, b[key], a[key]]);
    }
  } else {
    lines.push([null, before, after]);
  }
  if (!lines.length) return h("span", { class: "empty" }, t("audit.no_change"));
  const shown = lines.slice(0, SHOWN_CHANGES);
  const cut = lines.length > shown.length
    || shown.some(([, b, a]) => short(b).endsWith("…") || short(a).endsWith("…"));
  return h("div", { class: "change" },
    h("ul", {}, shown.map(([key, b, a]) => h("li", {},
      key === null ? null : h("span", { class: "field-name" }, `${key}: `),
      h("span", { class: "before" }, short(b)),
      h("span", { class: "arrow", "aria-hidden": "true" }, " → "),
      h("span", { class: "visually-hidden" }, ` ${t("audit.becomes")} `),
      h("span", { class: "after" }, short(a))))),
    lines.length > shown.length ? h("p", { class: "more" }, t("audit.more_changes", { n: lines.length - shown.length })) : null,
    cut ? h("details", {},
      h("summary", {}, t("audit.all_of_it")),
      h("p", { class: "json-label" }, t("audit.before")), h("pre", {}, JSON.stringify(before ?? null, null, 2)),
      h("p", { class: "json-label" }, t("audit.after")), h("pre", {}, JSON.stringify(after ?? null, null, 2))) : null);
}
