// My rules: the caller's effective booking rules (`GET /rules` with the token: their groups, each
// limit as the most generous of their groups, restricted places and features they may book, the
// strike rules), their strikes (`GET /me/strikes`) and a suspension with its end and reasons.
import { api, timed, localZone } from "./api.js";
import { h, fill, messageArea, say, table, whenDataChanges } from "./dom.js";
import { t, formatDateTime } from "./i18n.js";

/// The limits shown, in the order a student thinks of them (`GET /rules`'s fields).
const LIMITS = [
  "max_upcoming_per_student", "max_hours_per_day", "max_hours_per_week", "max_duration_minutes",
  "max_days_ahead", "grace_minutes", "max_waitlist",
];

const when = (v) => (v ? formatDateTime(new Date(v), localZone()) : "?");

export async function render(root) {
  const message = messageArea();
  const body = h("div", {}, h("p", { class: "loading" }, t("status.loading")));
  fill(root, h("h1", {}, t("page.rules")), h("p", { class: "aside" }, t("rules.intro")), message, body);

  async function load() {
    try {
      const [rules, mine] = await Promise.all([
        timed("rules"),
        api("GET", "me/strikes").catch((err) => (err.status === 404 ? null : Promise.reject(err))),
      ]);
      paint(rules, mine);
      if (message.classList.contains("error")) say(message, "");
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  }

  function paint(rules, mine) {
    const value = (key) => {
      const v = rules[key];
      return v === null || v === undefined ? t("rules.no_limit") : String(v);
    };
    const list = (items) => (Array.isArray(items) && items.length ? items.join(", ") : t("rules.none"));
    const suspension = mine ? mine.suspension : rules.suspension;
    const lastLift = mine?.last_lift ?? null;
    const strikes = mine?.strikes ?? [];
    fill(body,
      h("section", { class: "card", "aria-labelledby": "groups-heading" },
        h("h2", { id: "groups-heading" }, t("rules.groups")),
        h("ul", { class: "group-list" }, (rules.groups || ["default"]).map((g) => h("li", {}, g))),
        rules.exempt ? h("p", { class: "notice" }, t("rules.exempt")) : null),
      h("section", { class: "card", "aria-labelledby": "limits-heading" },
        h("h2", { id: "limits-heading" }, t("rules.limits")),
        table(t("rules.limits_caption"), [
          { title: t("rules.rule"), cell: (k) => t(`limit.${k}`) },
          { title: t("column.value"), cell: (k) => value(k) },
        ], LIMITS.filter((k) => k in rules)),
        h("dl", { class: "facts" },
          h("dt", {}, t("rules.places")), h("dd", {}, list(rules.places)),
          h("dt", {}, t("rules.features")), h("dd", {}, list((rules.features || []).map((f) => t(`feature.${f}`)))))),
      h("section", { class: "card", "aria-labelledby": "suspension-heading" },
        h("h2", { id: "suspension-heading" }, t("rules.suspension")),
        suspensionPart(suspension, null, lastLift)),
      h("section", { class: "card", "aria-labelledby": "strikes-heading" },
        h("h2", { id: "strikes-heading" }, t("rules.strikes")),
        h("p", {}, t("rules.strikes_intro", {
          k: rules.strike_threshold ?? 3, m: rules.strike_window_days ?? 30, s: rules.suspension_days ?? 7,
          late: rules.late_cancel_minutes ? t("rules.strikes_late", { n: rules.late_cancel_minutes }) : "",
        })),
        typeof rules.strikes === "number" ? h("p", { class: "strike-count" }, t("rules.strikes_count", { n: rules.strikes, k: rules.strike_threshold ?? 3 })) : null,
        strikes.length ? strikeTable(strikes, t("rules.strikes_caption")) : h("p", { class: "empty" }, t("rules.no_strikes"))));
  }

  await load();
  return whenDataChanges(() => load());
}

/// A suspension: in force (until when, and why), lifted, or none.
/// `student` names whom (staff's view); without it the text speaks to the student. `lastLift`
/// (`{at, by, reason}`): the last suspension staff lifted.
export function suspensionPart(s, student, lastLift = null) {
  const lift = s?.lifted ?? lastLift;
  const active = s && !s.lifted && Date.parse(s.until) > Date.now();
  if (active) {
    const text = student ? t("strikes.suspended", { student, until: when(s.until) }) : t("rules.suspended", { until: when(s.until) });
    return h("div", { class: "suspension" },
      h("p", { class: "suspended" }, text),
      Array.isArray(s.reasons) && s.reasons.length
        ? [h("p", {}, t("rules.suspended_because")), h("ul", { class: "reasons" }, s.reasons.map((r) => h("li", {}, r)))] : null);
  }
  return h("div", { class: "suspension" },
    h("p", {}, student ? t("strikes.not_suspended", { student }) : t("rules.not_suspended")),
    lift ? h("p", { class: "aside" }, t("rules.lifted", { at: when(lift.at), reason: lift.reason })) : null);
}

/// Strikes as a table; `action(strike)` adds a last column (staff's Remove).
export function strikeTable(strikes, caption, action) {
  const columns = [
    { title: t("strikes.column_at"), cell: (s) => when(s.at) },
    { title: t("strikes.column_kind"), cell: (s) => t(`strike.${s.reason}`) },
    { title: t("strikes.column_reservation"), cell: (s) => t("strikes.seat_reservation", { seat: s.seat_id ?? "–", reservation: s.reservation_id ?? "–" }) },
    {
      title: t("strikes.column_state"),
      cell: (s) => (s.removed ? t("strike.removed", { reason: s.removed.reason })
        : Date.parse(s.expires_at) > Date.now() ? t("strike.live", { at: when(s.expires_at) }) : t("strike.expired", { at: when(s.expires_at) })),
    },
  ];
  if (action) columns.push({ title: t("column.actions"), cell: action });
  return table(caption, columns, strikes);
}
