// My reservations (upcoming and past) with check-in (only inside its window, with a countdown to
// the no-show deadline), check-out and cancel; extend (a later end), step away and back (a
// countdown to `away_until`); a weekly series' date cancelled alone or the series from it on;
// "booked together" and "moved" said on the card; my waitlist entries with their position, offers
// to accept or decline, and leaving. Refreshed by every notification.
import { api, cached, query, seatsByID, iso } from "./api.js";
import { h, fill, field, messageArea, say, dialog, confirmDialog, table, whenDataChanges, takeNote } from "./dom.js";
import { t, formatNumber, formatRange, formatTime, formatCountdown, formatDateTime, zonedDay, zonedTime, zonedInstant, addDays } from "./i18n.js";

const HOLDING = new Set(["HELD", "CONFIRMED", "CHECKED_IN"]);

export async function render(root) {
  const message = messageArea();
  const upcoming = h("section", { "aria-labelledby": "upcoming-heading" });
  const waiting = h("section", { "aria-labelledby": "waitlist-heading" });
  const past = h("section", { "aria-labelledby": "past-heading" });
  fill(root, h("h1", {}, t("page.mine")), message, upcoming, waiting, past, calendarCard());
  // An outcome from the page before (an offer accepted from its email's link).
  const note = takeNote();
  if (note) say(message, note.text, note.kind);
  let rules = null;
  let seats = new Map();
  let zones = new Map();
  let boundaries = [];

  const seatName = (id) => seats.get(id)?.label ?? String(id);
  const zoneOf = (seatId) => zones.get(seats.get(seatId)?.branch) || "UTC";
  const where = (id) => {
    const s = seats.get(id);
    return s ? `${s.branch} · ${s.area}` : "";
  };

  async function load() {
    try {
      const [r, w, branches, rs] = await Promise.all([
        api("GET", `reservations/mine${query({ limit: 200 })}`),
        api("GET", "waitlist/mine"),
        cached("branches", 30000),
        cached("rules", 300000),
      ]);
      rules = rs;
      seats = await seatsByID([...r.reservations.map((x) => x.seat_id), ...w.waitlist.map((x) => x.seat_id)]);
      zones = new Map(branches.branches.map((b) => [b.branch, b.time_zone]));
      paint(r.reservations, w.waitlist);
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  }

  /// Runs `promise`, then says `done` (a text, or a function of the answer); a refusal in words
  /// (`context` names the operation, for the refusals that mean something else there).
  async function act(promise, done, context) {
    say(message, t("status.working"));
    try {
      const answer = await promise();
      say(message, typeof done === "function" ? done(answer) : done, "ok");
    } catch (err) {
      say(message, refusal(err, context), "error");
    }
    await load();
  }

  /// A later end: +30 min, +1 hour, or a time of the student's choice (library time); the server's
  /// refusal is said in the dialog, which stays open for another try.
  async function extendDialog(r) {
    const zone = zoneOf(r.seat_id);
    const start = new Date(r.start_time);
    const end = new Date(r.end_time);
    const label = seatName(r.seat_id);
    const done = await dialog(t("extend.title", { label }), (close) => {
      const note = messageArea();
      const time = h("input", { type: "time", name: "new_end", step: 900, required: true });
      time.value = zonedTime(new Date(end.getTime() + 3600000), zone);
      let busy = false;
      const send = async (newEnd) => {
        if (busy) return;
        busy = true;
        say(note, t("status.working"));
        try {
          close(await api("POST", `reservations/${r.id}/extend`, { end_time: iso(newEnd) }));
        } catch (err) {
          say(note, refusal(err, "extend"), "error");
        }
        busy = false;
      };
      const quick = (minutes, key) => {
        const at = new Date(end.getTime() + minutes * 60000);
        return h("button", { type: "button", class: "extend-quick", onclick: () => send(at) }, t(key, { time: formatTime(at, zone) }));
      };
      const form = h("form", { class: "extend-form", novalidate: true },
        h("p", {}, t("extend.now", { when: formatRange(start, end, zone) })),
        h("div", { class: "actions" }, quick(30, "extend.plus_30"), quick(60, "extend.plus_60")),
        h("div", { class: "row end" },
          field(t("extend.new_end"), time, t("extend.new_end_hint", { zone })),
          h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("extend.do")))),
        note);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!time.value) return say(note, t("extend.need_time"), "error");
        // A time at or before the current end is on the next day (a stay across midnight).
        let at = zonedInstant(zonedDay(end, zone), time.value, zone);
        if (at <= end) at = zonedInstant(addDays(zonedDay(end, zone), 1), time.value, zone);
        send(at);
      });
      return form;
    });
    if (done) {
      say(message, t("extend.done", { label, time: formatTime(new Date(done.end_time), zone) }), "ok");
      await load();
    }
  }

  function reservationCard(r) {
    const now = Date.now();
    const start = new Date(r.start_time);
    const end = new Date(r.end_time);
    const zone = zoneOf(r.seat_id);
    const opens = start.getTime() - rules.checkin_opens_minutes * 60000;
    // Made after its start: the grace runs from the booking (as the server counts it).
    const made = r.created_at ? new Date(r.created_at).getTime() : 0;
    const deadline = Math.max(start.getTime(), made) + rules.grace_minutes * 60000;
    const title = t("mine.seat", { label: seatName(r.seat_id) });
    const actions = h("div", { class: "actions" });
    const info = h("p", { class: "info" });
    const extend = h("button", { type: "button", onclick: () => extendDialog(r) }, t("action.extend"));
    if (r.status === "CONFIRMED") {
      const open = opens <= now && now < deadline;
      boundaries.push(opens, deadline);
      actions.append(h("button", {
        type: "button", class: "primary", disabled: !open,
        onclick: () => act(() => api("POST", `reservations/${r.id}/checkin`), t("mine.checked_in_done", { label: seatName(r.seat_id) })),
      }, t("action.check_in")));
      if (open) {
        info.append(t("mine.checkin_open"), " ", h("strong", { class: "countdown", dataset: { deadline } }, formatCountdown(deadline - now)));
      } else if (now < opens) {
        info.append(t("mine.checkin_opens", { time: formatDateTime(new Date(opens), zone) }));
      }
      actions.append(extend);
      actions.append(h("button", {
        type: "button",
        onclick: async () => {
          if (await confirmDialog(t(r.series_id ? "series.cancel_date_title" : "mine.cancel_title"), t("mine.cancel_text", { label: seatName(r.seat_id), when: formatRange(start, end, zone) }), t("action.cancel_reservation"))) {
            await act(() => api("DELETE", `reservations/${r.id}`), t("mine.cancelled_done"));
          }
        },
      }, t(r.series_id ? "series.cancel_date" : "action.cancel")));
      if (r.series_id) {
        actions.append(h("button", {
          type: "button", class: "danger",
          onclick: async () => {
            if (await confirmDialog(t("series.cancel_from_title"), t("series.cancel_from_text", { label: seatName(r.seat_id), when: formatDateTime(start, zone) }), t("series.cancel_from_do"))) {
              await act(() => api("DELETE", `reservations/series/${r.series_id}${query({ from: r.start_time })}`),
                (answer) => t("series.cancelled_from", { n: answer?.cancelled ?? 0 }));
            }
          },
        }, t("series.cancel_from")));
      }
    } else if (r.status === "CHECKED_IN") {
      info.append(t("mine.checked_in_at", { time: formatTime(new Date(r.checked_in_at), zone) }));
      const awayUntil = r.away_until ? Date.parse(r.away_until) : NaN;
      if (awayUntil > now) {
        // Away: the seat stays the student's until then; coming back ends it.
        boundaries.push(awayUntil);
        info.append(" ", h("span", { class: "away" }, t("away.until", { time: formatTime(new Date(awayUntil), zone) }), " ",
          t("away.left"), " ", h("strong", { class: "countdown", dataset: { deadline: awayUntil } }, formatCountdown(awayUntil - now))));
        actions.append(h("button", {
          type: "button", class: "primary",
          onclick: () => act(() => api("POST", `reservations/${r.id}/back`), t("away.back_done", { label: seatName(r.seat_id) }), "away"),
        }, t("action.back")));
      }
      actions.append(h("button", {
        type: "button", class: awayUntil > now ? "" : "primary",
        onclick: () => act(() => api("POST", `reservations/${r.id}/checkout`), t("mine.checked_out_done")),
      }, t("action.check_out")));
      if (!(awayUntil > now)) {
        actions.append(h("button", {
          type: "button",
          onclick: () => act(() => api("POST", `reservations/${r.id}/away`),
            (answer) => t("away.done", { time: answer?.away_until ? formatTime(new Date(answer.away_until), zone) : "?" }), "away"),
        }, t("action.step_away")));
      }
      actions.append(extend);
    } else if (r.status === "HELD") {
      info.append(t("mine.held"));
    }
    return h("li", { class: "card reservation", dataset: { reservationId: r.id, status: r.status } },
      h("h3", {}, title),
      h("p", { class: "when" }, formatRange(start, end, zone)),
      h("p", { class: "where" }, where(r.seat_id)),
      h("p", { class: "tags" }, h("span", { class: `badge status-${r.status.toLowerCase()}` }, t(`status.${r.status}`)),
        r.series_id ? h("span", { class: "badge tag" }, t("mine.tag_series")) : null,
        r.group_id ? h("span", { class: "badge tag" }, t("mine.tag_together")) : null,
        r.moved_from ? h("span", { class: "badge tag" }, t("mine.tag_moved")) : null),
      info, actions);
  }

  function waitlistCard(w) {
    const zone = w.branch ? zones.get(w.branch) || "UTC" : zoneOf(w.seat_id);
    const target = w.seat_id ? t("mine.wait_seat", { label: seatName(w.seat_id) }) : t("mine.wait_branch", { branch: w.branch });
    const actions = h("div", { class: "actions" });
    const info = h("p", { class: "info" });
    if (w.status === "WAITING") {
      info.append(t("mine.position", { position: formatNumber(w.position) }));
      actions.append(h("button", { type: "button", onclick: () => act(() => api("DELETE", `waitlist/${w.id}`), t("mine.left_done")) }, t("action.leave")));
    } else if (w.status === "OFFERED") {
      info.append(t("mine.offered", { label: seatName(w.offered_seat_id), time: formatTime(new Date(w.offer_expires_at), zone) }));
      actions.append(
        h("button", { type: "button", class: "primary", onclick: () => act(() => api("POST", `waitlist/${w.id}/accept`), t("live.booked")) }, t("action.accept")),
        h("button", { type: "button", onclick: () => act(() => api("POST", `waitlist/${w.id}/decline`), t("mine.declined_done")) }, t("action.decline")),
        h("button", { type: "button", onclick: () => act(() => api("DELETE", `waitlist/${w.id}`), t("mine.left_done")) }, t("action.leave")));
    }
    return h("li", { class: "card waitlist-entry", dataset: { entryId: w.id, status: w.status } },
      h("h3", {}, target),
      h("p", { class: "when" }, formatRange(new Date(w.desired_time), new Date(w.end_time), zone)),
      h("p", {}, h("span", { class: `badge status-${w.status.toLowerCase()}` }, t(`status.${w.status}`))),
      info, actions);
  }

  function paint(reservations, entries) {
    boundaries = [];
    const now = Date.now();
    const coming = reservations.filter((r) => HOLDING.has(r.status) && new Date(r.end_time).getTime() > now)
      .sort((a, b) => new Date(a.start_time) - new Date(b.start_time));
    const done = reservations.filter((r) => !coming.includes(r));
    fill(upcoming, h("h2", { id: "upcoming-heading" }, t("mine.upcoming")),
      coming.length ? h("ul", { class: "cards" }, coming.map(reservationCard))
        : h("p", { class: "empty" }, t("mine.none_upcoming"), " ", h("a", { href: "#/find" }, t("nav.find"))));
    const live = entries.filter((w) => w.status === "WAITING" || w.status === "OFFERED");
    fill(waiting, h("h2", { id: "waitlist-heading" }, t("mine.waitlist")),
      live.length ? h("ul", { class: "cards" }, live.map(waitlistCard)) : h("p", { class: "empty" }, t("mine.none_waiting")));
    fill(past, h("h2", { id: "past-heading" }, t("mine.past")),
      done.length ? table(t("mine.past_caption"), [
        { title: t("column.seat"), cell: (r) => seatName(r.seat_id) },
        { title: t("column.where"), cell: (r) => where(r.seat_id) },
        { title: t("column.when"), cell: (r) => formatRange(new Date(r.start_time), new Date(r.end_time), zoneOf(r.seat_id)) },
        { title: t("column.status"), cell: (r) => h("span", { class: `badge status-${r.status.toLowerCase()}` }, t(`status.${r.status}`)) },
      ], done) : h("p", { class: "empty" }, t("mine.none_past")));
  }

  await load();
  let lastTick = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    for (const el of root.querySelectorAll(".countdown")) el.textContent = formatCountdown(Number(el.dataset.deadline) - now);
    // A check-in window opened or closed since the last tick: the buttons change.
    if (boundaries.some((b) => b > lastTick && b <= now)) load();
    lastTick = now;
  }, 1000);
  const stop = whenDataChanges(() => load());
  return () => {
    clearInterval(timer);
    stop();
  };
}

/// A refusal in words; where an operation gives a code another meaning than a booking, its own.
function refusal(err, context) {
  if (context === "away" && err.code === "limit_reached") {
    return err.body?.limit === 0 ? t("away.off") : t("away.limit", { limit: err.body?.limit ?? "?" });
  }
  if (context === "extend" && err.code === "seat_conflict") return t("extend.conflict");
  return err.describe ? err.describe() : String(err);
}

/// The private calendar feed: created (or replaced) and revoked here; only shown once, as the
/// server keeps only its hash.
function calendarCard() {
  const message = messageArea();
  const link = h("div", {});
  const make = async () => {
    try {
      const feed = await api("POST", "calendar/feed");
      const url = new URL(feed.url, document.baseURI).href;
      const input = h("input", { value: url, readonly: true, class: "wide" });
      fill(link, field(t("calendar.link"), input, t("calendar.link_hint")));
      input.select();
      say(message, t("calendar.made"), "ok");
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  };
  const revoke = async () => {
    try {
      const r = await api("DELETE", "calendar/feed");
      fill(link);
      say(message, r.revoked ? t("calendar.revoked") : t("calendar.none"), "ok");
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  };
  return h("section", { class: "card", "aria-labelledby": "calendar-heading" },
    h("h2", { id: "calendar-heading" }, t("calendar.title")),
    h("p", { class: "aside" }, t("calendar.intro")),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: make }, t("calendar.make")),
      h("button", { type: "button", onclick: revoke }, t("calendar.revoke"))),
    link, message);
}
