// Find a seat: branch, area, day and window, feature filters; the seat map for that window; a
// seat's day timeline; booking in two clicks (the seat, then Book); the waitlist when it is taken.
// The map refreshes itself (every 15 s while the tab is visible, and on every notification).
// A library with a release time: before the chosen day opens, a countdown on the server's clock
// (GET /rules?branch=…&start_time=… gives `opens_at` and `server_time`), and Book is enabled at
// that instant. Seats kept for other groups are shown as such and cannot be booked.
// The seat over the day: a free seat's panel offers to move the student's upcoming reservation
// there and to repeat the window weekly (a series, with each date's outcome); "Seats together"
// finds N free seats next to each other for the window and books them for N students at once.
import { api, cached, query, seg, iso, timed, serverClock, session, seatsByID } from "./api.js";
import { h, fill, field, check, messageArea, say, dialog, whenDataChanges, pager } from "./dom.js";
import { t, has, formatNumber, formatRange, formatDate, formatTime, formatCountdown, zonedInstant, zonedDay, zonedTime, addDays, weekdayOf } from "./i18n.js";
import { seatMap, seatState, restrictedText, legend, timeline, windowView } from "./seatmap.js";

const REFRESH_MS = 15000;
/// Seats on one page of the map (a library may have thousands).
const PAGE_SIZE = 500;
/// The API's weekday codes of a weekly series, Monday first, with the names they stand for.
const WEEKDAYS = [["MO", "monday"], ["TU", "tuesday"], ["WE", "wednesday"], ["TH", "thursday"], ["FR", "friday"], ["SA", "saturday"], ["SU", "sunday"]];

/// A refusal in words (`code`, `error` as the server gave them).
function reason(code, error) {
  return has(`error.${code}`) ? t(`error.${code}`, { detail: error || "" }) : error || t("error.unknown");
}

/// The next quarter hour in `zone`, as "YYYY-MM-DD" and "HH:MM".
function nextQuarter(zone) {
  const now = new Date(Math.ceil(Date.now() / 900000) * 900000);
  return { day: zonedDay(now, zone), time: zonedTime(now, zone) };
}

export async function render(root) {
  const body = h("div", {}, h("p", { class: "loading" }, t("status.loading")));
  fill(root, h("h1", {}, t("page.find")), body);
  let branches;
  let rules;
  try {
    [branches, rules] = await Promise.all([cached("branches", 30000).then((b) => b.branches), cached("rules", 300000)]);
  } catch (err) {
    fill(body, h("p", { class: "message error", role: "alert" }, err.describe ? err.describe() : String(err)));
    return;
  }
  const saved = JSON.parse(sessionStorage.getItem("dlsms.find") || "{}");
  const branchSelect = h("select", { name: "branch" }, branches.map((b) => h("option", { value: b.branch }, b.branch)));
  if (saved.branch && branches.some((b) => b.branch === saved.branch)) branchSelect.value = saved.branch;
  const areaSelect = h("select", { name: "area" });
  const day = h("input", { type: "date", name: "date", required: true });
  const from = h("input", { type: "time", name: "from", step: 900, required: true });
  const to = h("input", { type: "time", name: "to", step: 900, required: true });
  const power = h("input", { name: "has_power", checked: saved.power });
  const monitor = h("input", { name: "has_monitor", checked: saved.monitor });
  const accessible = h("input", { name: "accessible", checked: saved.accessible });
  const message = messageArea();
  const results = h("section", { class: "results", "aria-labelledby": "results-heading" });
  const detail = h("section", { class: "detail card", "aria-labelledby": "detail-heading", hidden: true });
  let selected = null;
  let shownState = null;
  let detailMessage = null;
  let last = null;
  let offset = 0;
  /// When booking for the searched window opens (ms, server clock), or null: open.
  let opensAt = null;
  let openTimer = null;
  /// The student's upcoming reservations (CONFIRMED or CHECKED_IN, not ended), which a free seat's
  /// panel offers to move there, with their seats.
  let movable = [];
  let movableSeats = new Map();

  const branch = () => branches.find((b) => b.branch === branchSelect.value) || branches[0];
  const zone = () => branch()?.time_zone || "UTC";
  const fillAreas = () => {
    const b = branch();
    fill(areaSelect, h("option", { value: "" }, t("find.all_areas")), (b?.areas || []).map((a) => h("option", { value: a }, a)));
    if (saved.area && b?.areas.includes(saved.area)) areaSelect.value = saved.area;
  };
  const resetTimes = () => {
    const q = nextQuarter(zone());
    day.value = q.day;
    from.value = q.time;
    const end = new Date(zonedInstant(q.day, q.time, zone()).getTime() + 3600000);
    to.value = zonedTime(end, zone());
    day.min = q.day;
    day.max = addDays(q.day, rules.max_days_ahead);
  };
  fillAreas();
  resetTimes();

  /// The searched window as instants (an end at or before the start is on the next day).
  const windowOf = () => {
    if (!day.value || !from.value || !to.value) return null;
    const start = zonedInstant(day.value, from.value, zone());
    const endDay = to.value <= from.value ? addDays(day.value, 1) : day.value;
    return { start, end: zonedInstant(endDay, to.value, zone()) };
  };

  let searching = 0;
  /// A new search starts at the first page; a refresh (quiet) or the pager keeps its page.
  async function search({ quiet = false, keepPage = quiet } = {}) {
    const mine = ++searching;
    if (!keepPage) offset = 0;
    const w = windowOf();
    if (!w) return say(message, t("find.need_window"), "error");
    sessionStorage.setItem("dlsms.find", JSON.stringify({
      branch: branchSelect.value, area: areaSelect.value, power: power.checked, monitor: monitor.checked, accessible: accessible.checked,
    }));
    if (!quiet) say(message, t("status.loading"));
    const b = branch();
    // The release rule is read alongside the seats (a failure there is no reason to show none).
    const releasing = releaseOf(b, w);
    const movable = loadMovable();
    try {
      const view = await windowView(b, w, day.value, {
        area: areaSelect.value, has_power: power.checked || "", has_monitor: monitor.checked || "",
        accessible: accessible.checked || "", limit: PAGE_SIZE, offset,
      });
      await releasing;
      await movable;
      if (mine !== searching) return; // a newer search draws
      last = { ...view, window: w, branch: b };
      paintResults();
      // Loaded: an old error (the server was unreachable) goes.
      if (!quiet || message.classList.contains("error")) say(message, "");
      if (selected) {
        const seat = view.seats.find((s) => s.id === selected);
        // The panel is redrawn only when what it offers changed, so a refresh never takes the
        // focus from its buttons.
        if (!seat) hideDetail();
        else if (!quiet || seatState(seat, view) !== shownState) showDetail(seat, { focus: false });
      }
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  }

  /// The student's reservations that can move (a failure there only hides the offer).
  async function loadMovable() {
    try {
      const r = await api("GET", `reservations/mine${query({ upcoming_only: true, limit: 200 })}`);
      const now = Date.now();
      movable = r.reservations.filter((x) => (x.status === "CONFIRMED" || x.status === "CHECKED_IN") && Date.parse(x.end_time) > now)
        .sort((a, b) => Date.parse(a.start_time) - Date.parse(b.start_time));
      movableSeats = await seatsByID(movable.map((x) => x.seat_id));
    } catch {
      movable = [];
    }
  }

  /// "Seat 15, Mon 7 Dec, 10:00–12:00": one of the student's reservations.
  function reservationText(r) {
    const s = movableSeats.get(r.seat_id);
    const z = branches.find((x) => x.branch === s?.branch)?.time_zone || "UTC";
    return t("move.reservation", { label: s?.label ?? r.seat_id, when: formatRange(new Date(r.start_time), new Date(r.end_time), z) });
  }

  /// The release rule's opening for the window (a library without a release rule is not asked).
  async function releaseOf(b, w) {
    if (b.release === null) {
      setOpensAt(null);
      return;
    }
    try {
      const r = await timed(`rules${query({ branch: b.branch, start_time: iso(w.start) })}`);
      const opens = r.release?.opens_at ?? r.opens_at;
      const at = r.release && opens ? Date.parse(opens) : NaN;
      setOpensAt(Number.isNaN(at) ? null : at);
    } catch {
      // The rules could not be read: the server still refuses a booking too early, in words.
    }
  }

  const isOpen = () => opensAt === null || serverClock.now() >= opensAt;

  /// Book is enabled at the opening instant itself (a timer to it, not only the 1 s tick).
  function setOpensAt(at) {
    opensAt = at;
    clearTimeout(openTimer);
    openTimer = null;
    // (setTimeout takes at most 2^31 - 1 ms: a far opening is waited for in steps.)
    const check = () => {
      const left = opensAt - serverClock.now();
      if (left > 0) openTimer = setTimeout(check, Math.min(left, 86400000));
      else tick();
    };
    if (at !== null && !isOpen()) check();
  }

  /// The countdowns and the Book button, as the server's clock goes on.
  function tick() {
    const open = isOpen();
    for (const el of root.querySelectorAll(".release-countdown")) {
      if (open) fill(el.closest(".release"), h("p", { role: "status" }, t("release.open_now")));
      else el.textContent = formatCountdown(opensAt - serverClock.now());
    }
    const book = detail.querySelector("button.book");
    if (book) {
      book.disabled = !(open && book.dataset.state === "free");
      const wait = detail.querySelector(".opens-in");
      if (wait) wait.hidden = open;
      const left = detail.querySelector(".opens-in .release-wait");
      if (left && !open) left.textContent = formatCountdown(opensAt - serverClock.now());
    }
  }

  function releaseNotice(w, b) {
    if (isOpen()) return null;
    const z = b.time_zone || "UTC";
    const at = new Date(opensAt);
    return h("div", { class: "release" },
      h("p", {}, t("release.notice", { day: formatDate(w.start, z), time: `${formatDate(at, z)} ${formatTime(at, z)}`, zone: z })),
      h("p", {}, t("release.opens_in"), " ", h("strong", { class: "countdown release-countdown" }, formatCountdown(opensAt - serverClock.now()))));
  }

  function paintResults() {
    const { seats, total, reasons, window: w, branch: b } = last;
    // A refresh keeps the keyboard where it was: on the same seat.
    const focusedSeat = document.activeElement?.closest?.(".seat-map .seat")?.dataset.seatId;
    const free = seats.filter((s) => seatState(s, last) === "free").length;
    fill(results,
      h("h2", { id: "results-heading" }, t("find.results", { when: formatRange(w.start, w.end, b.time_zone) })),
      h("p", { class: "summary" }, t("find.summary", { free: formatNumber(free), total: formatNumber(seats.length) })),
      reasons.length ? h("p", { class: "notice" }, t("find.closed_because", { reasons: reasons.join("; ") })) : null,
      releaseNotice(w, b),
      legend(),
      seatMap(seats, { stateOf: (s) => seatState(s, last), onSelect: (s) => showDetail(s, { focus: true }), selected }),
      pager({
        offset, size: PAGE_SIZE, count: seats.length, total, label: t("pager.seats"),
        go: (next) => {
          offset = next;
          hideDetail();
          search({ keepPage: true });
        },
      }),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => joinWaitlist({ branch: b.branch }) }, t("find.wait_any", { branch: b.branch }))));
    if (focusedSeat) results.querySelector(`.seat[data-seat-id="${focusedSeat}"]`)?.focus();
  }

  function hideDetail() {
    selected = null;
    detail.hidden = true;
    fill(detail);
  }

  async function showDetail(seat, { focus }) {
    selected = seat.id;
    for (const el of results.querySelectorAll(".seat")) el.setAttribute("aria-pressed", String(Number(el.dataset.seatId) === seat.id));
    const { window: w, branch: b } = last;
    const state = seatState(seat, last);
    shownState = state;
    const z = b.time_zone || "UTC";
    const dayStart = zonedInstant(day.value, "00:00", z);
    const dayEnd = new Date(zonedInstant(addDays(day.value, 1), "00:00", z).getTime() - 1000);
    const dates = [...new Set([iso(dayStart).slice(0, 10), iso(dayEnd).slice(0, 10)])];
    detailMessage = messageArea();
    const title = h("h2", { id: "detail-heading", tabindex: "-1" }, t("detail.title", { label: seat.label }));
    const book = h("button", {
      type: "button", class: "primary book", disabled: state !== "free" || !isOpen(), dataset: { state },
      onclick: () => doBook(seat, detailMessage),
    }, t("detail.book", { label: seat.label, when: formatRange(w.start, w.end, z) }));
    const groups = Array.isArray(seat.restricted_to) ? seat.restricted_to.join(", ") : "";
    fill(detail, title,
      h("p", { class: "features" }, `${seat.branch} · ${seat.area}`, " · ",
        [seat.has_power ? t("feature.power") : null, seat.has_monitor ? t("feature.monitor") : null, seat.accessible ? t("feature.accessible") : null]
          .filter(Boolean).join(", ") || t("feature.none")),
      seat.notes ? h("p", { class: "notes" }, seat.notes) : null,
      h("p", { class: `state-line state-${state}` }, state === "restricted" ? t("detail.state_restricted", { groups: groups || "?" }) : t(`detail.state_${state}`)),
      state !== "restricted" && groups ? h("p", { class: "aside" }, t("detail.restricted_yours", { groups })) : null,
      state === "free" ? h("p", { class: "opens-in", hidden: isOpen() },
        t("release.opens_in"), " ", h("strong", { class: "countdown release-wait" }, isOpen() ? "" : formatCountdown(opensAt - serverClock.now()))) : null,
      h("div", { class: "timeline-slot" }, h("p", { class: "loading" }, t("status.loading"))),
      h("div", { class: "actions" }, book,
        state === "taken" ? h("button", { type: "button", onclick: () => joinWaitlist({ seat_id: seat.id }, detailMessage) }, t("detail.wait_seat")) : null,
        state === "free" ? moveButton(seat) : null),
      state === "free" ? seriesForm(seat) : null,
      detailMessage);
    detail.hidden = false;
    if (focus) {
      title.focus();
      if (window.matchMedia("(max-width: 800px)").matches) detail.scrollIntoView({ block: "start" });
    }
    try {
      const days = await Promise.all(dates.map((d) => api("GET", `seats/${seat.id}${query({ date: d })}`)));
      const busy = days.flatMap((d) => d.busy);
      const slot = detail.querySelector(".timeline-slot");
      if (slot && selected === seat.id) fill(slot, timeline(b, day.value, busy, w));
    } catch (err) {
      say(detailMessage, err.describe ? err.describe() : String(err), "error");
    }
  }

  async function doBook(seat, where) {
    const { window: w, branch: b } = last;
    say(where, t("status.working"));
    try {
      const r = await api("POST", "reservations", { seat_id: seat.id, start_time: iso(w.start), end_time: iso(w.end) });
      say(where, "");
      say(message, t("find.booked", { label: seat.label, when: formatRange(new Date(r.start_time), new Date(r.end_time), b.time_zone) }), "ok");
      message.append(" ", h("a", { href: "#/mine" }, t("find.see_mine")));
      hideDetail();
      await search({ quiet: true });
    } catch (err) {
      // The map refreshes (the seat is probably taken now, or the day not open yet: the countdown
      // comes back), then the refusal is shown in the seat's panel, redrawn or not.
      if (err.code === "not_open_yet" && err.body?.opens_at) setOpensAt(Date.parse(err.body.opens_at));
      await search({ quiet: true });
      say(detailMessage || where, err.describe ? err.describe() : String(err), "error");
    }
  }

  /// "Move my reservation here" (naming it when there is one; else the student chooses, those
  /// that overlap the searched window first).
  function moveButton(seat) {
    const { start, end } = last.window;
    const overlaps = (r) => Date.parse(r.start_time) < end.getTime() && start.getTime() < Date.parse(r.end_time);
    const candidates = movable.filter((r) => r.seat_id !== seat.id).sort((a, b) => overlaps(b) - overlaps(a));
    if (!candidates.length) return null;
    return h("button", { type: "button", class: "move", onclick: () => doMove(seat, candidates) },
      candidates.length === 1 ? t("move.one", { what: reservationText(candidates[0]) }) : t("move.here"));
  }

  /// Which of several reservations moves (resolves with it, or undefined when closed).
  function chooseReservation(seat, candidates) {
    return dialog(t("move.choose_title", { label: seat.label }), (close) => {
      const form = h("form", { class: "move-choice", novalidate: true },
        h("fieldset", {}, h("legend", {}, t("move.choose")),
          candidates.map((r, i) => {
            const input = h("input", { type: "radio", name: "move-reservation", id: `move-${r.id}`, value: String(r.id), checked: i === 0 });
            return h("div", { class: "check" }, input, h("label", { for: input.id }, reservationText(r)));
          })),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "primary" }, t("move.do", { label: seat.label })),
          h("button", { type: "button", onclick: () => close(undefined) }, t("action.keep"))));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const chosen = form.querySelector("input[name=move-reservation]:checked");
        close(candidates.find((r) => String(r.id) === chosen?.value));
      });
      return form;
    });
  }

  async function doMove(seat, candidates) {
    const from = candidates.length === 1 ? candidates[0] : await chooseReservation(seat, candidates);
    if (!from) return;
    const where = detailMessage;
    say(where, t("status.working"));
    try {
      const moved = await api("POST", `reservations/${from.id}/move`, { seat_id: seat.id });
      const r = moved.reservation;
      const z = last.branch.time_zone || "UTC";
      say(message, t("move.done", { label: seat.label, when: formatRange(new Date(r.start_time), new Date(r.end_time), z) }), "ok");
      message.append(" ", h("a", { href: "#/mine" }, t("find.see_mine")));
      hideDetail();
      await search({ quiet: true });
    } catch (err) {
      await search({ quiet: true });
      say(detailMessage || where, err.code === "seat_conflict" ? t("move.conflict") : err.describe ? err.describe() : String(err), "error");
    }
  }

  /// "Repeat weekly": the searched window on the chosen weekdays until a date (at the same local
  /// time), each date booked or refused with its reason; all or nothing if asked.
  function seriesForm(seat) {
    const { window: w } = last;
    const z = last.branch.time_zone || "UTC";
    const firstDay = zonedDay(w.start, z);
    const lastDay = addDays(zonedDay(new Date(), z), rules.max_days_ahead);
    const weekday = weekdayOf(firstDay);
    const boxes = WEEKDAYS.map(([code, name]) => [code, h("input", { name: "series-weekday", value: code, checked: name === weekday })]);
    const until = h("input", { type: "date", name: "series-until", required: true, min: firstDay, max: lastDay });
    until.value = [addDays(firstDay, 21), lastDay].sort()[0];
    const all = h("input", { name: "series-all" });
    const form = h("form", { class: "series-form", novalidate: true },
      h("p", { class: "aside" }, t("series.intro", { start: formatTime(w.start, z), end: formatTime(w.end, z) })),
      h("fieldset", { class: "row weekdays" }, h("legend", {}, t("series.weekdays")),
        boxes.map(([code, input], i) => check(t(`weekday_short.${WEEKDAYS[i][1]}`), input))),
      field(t("series.until"), until, t("series.until_hint", { day: formatDate(zonedInstant(lastDay, "12:00", z), z) })),
      check(t("series.all_or_nothing"), all),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("series.do"))));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const weekdays = boxes.filter(([, input]) => input.checked).map(([code]) => code);
      if (!weekdays.length) return say(detailMessage, t("series.need_weekday"), "error");
      if (!until.value) return say(detailMessage, t("series.need_until"), "error");
      doSeries(seat, { weekdays, until: until.value, all_or_nothing: all.checked });
    });
    return h("details", { class: "series" }, h("summary", {}, t("series.repeat")), form);
  }

  /// Each date of a series' answer: booked, or refused with its reason.
  function seriesOutcome(instances, z) {
    return h("ul", { class: "series-dates" }, instances.map((i) => {
      const when = formatRange(new Date(i.start_time), new Date(i.end_time), z);
      return h("li", { class: `series-${i.status}` }, i.status === "booked"
        ? t("series.date_booked", { when })
        : t("series.date_refused", { when, reason: i.code === "seat_conflict" ? t("series.taken") : reason(i.code, i.error) }));
    }));
  }

  async function doSeries(seat, choice) {
    const { window: w, branch: b } = last;
    const z = b.time_zone || "UTC";
    say(detailMessage, t("status.working"));
    try {
      const r = await api("POST", "reservations/series", { seat_id: seat.id, start_time: iso(w.start), end_time: iso(w.end), ...choice });
      say(message, [t("series.result", { label: seat.label, booked: formatNumber(r.booked), refused: formatNumber(r.refused) }), seriesOutcome(r.instances, z),
        h("a", { href: "#/mine" }, t("find.see_mine"))], "ok");
      hideDetail();
      message.tabIndex = -1;
      message.focus();
      await search({ quiet: true });
    } catch (err) {
      await search({ quiet: true });
      const dates = Array.isArray(err.body?.instances) ? err.body.instances : null;
      say(detailMessage, dates ? [t("series.none_booked"), seriesOutcome(dates, z)] : err.describe ? err.describe() : String(err), "error");
    }
  }

  async function joinWaitlist(target, where = message) {
    const w = last.window;
    say(where, t("status.working"));
    try {
      const entry = await api("POST", "waitlist", { ...target, desired_time: iso(w.start), end_time: iso(w.end) });
      say(where, t("find.waiting", { position: entry.position == null ? "–" : formatNumber(entry.position) }), "ok");
      where.append(" ", h("a", { href: "#/mine" }, t("find.see_mine")));
    } catch (err) {
      say(where, err.describe ? err.describe() : String(err), "error");
    }
  }

  const form = h("form", { class: "card search", role: "search", "aria-label": t("find.form"), novalidate: true },
    h("div", { class: "row" }, field(t("field.branch"), branchSelect), field(t("field.area"), areaSelect),
      field(t("field.date"), day), h("div", { class: "row times" }, field(t("field.from"), from), field(t("field.to"), to))),
    h("div", { class: "row end" },
      h("fieldset", { class: "row filters" }, h("legend", {}, t("find.features")),
        check(t("feature.power"), power), check(t("feature.monitor"), monitor), check(t("feature.accessible"), accessible)),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.search")))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    hideDetail();
    search();
  });
  branchSelect.addEventListener("change", () => {
    saved.area = "";
    fillAreas();
    resetTimes();
    hideDetail();
    search();
  });
  for (const el of [areaSelect, power, monitor, accessible]) el.addEventListener("change", () => search());

  /// "Seats together": N free seats next to each other for the searched library, area and window;
  /// each option with one student per seat (the caller first) and Book together (all or none).
  function togetherSection() {
    const count = h("input", { type: "number", name: "together_count", min: 2, max: 20, step: 1, required: true, inputmode: "numeric" });
    count.value = "2";
    const note = messageArea();
    const options = h("div", { class: "together-options" });
    const find = h("form", { class: "row together-find", novalidate: true },
      field(t("together.count"), count, t("together.count_hint")),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("together.find"))));
    find.addEventListener("submit", async (e) => {
      e.preventDefault();
      const n = Number(count.value);
      if (!Number.isInteger(n) || n < 2 || n > 20) return say(note, t("together.bad_count"), "error");
      const w = windowOf();
      if (!w) return say(note, t("find.need_window"), "error");
      const b = branch();
      say(note, t("status.loading"));
      fill(options);
      try {
        const r = await api("GET", `seats/together${query({
          branch: b.branch, area: areaSelect.value, count: n, start_time: iso(w.start), end_time: iso(w.end),
        })}`);
        const when = formatRange(w.start, w.end, b.time_zone || "UTC");
        if (!r.options.length) return say(note, t("together.none", { n, when }), "error");
        say(note, t("together.found", { count: formatNumber(r.options.length), n: formatNumber(n), when }));
        fill(options, h("ul", { class: "cards" }, r.options.map((o, i) => togetherOption(o, i, w, b, note, options))));
      } catch (err) {
        say(note, err.describe ? err.describe() : String(err), "error");
      }
    });
    return h("details", { class: "card together" },
      h("summary", {}, t("together.title")),
      h("p", { class: "aside" }, t("together.intro")),
      find, note, options);
  }

  function togetherOption(option, index, w, b, note, options) {
    const labels = option.seats.map((s) => s.label);
    const inputs = option.seats.map((s, i) => {
      const input = h("input", { name: `together-member-${index}-${i}`, autocomplete: "off", spellcheck: "false" });
      if (i === 0) input.value = session.user?.student_id || "";
      return input;
    });
    const own = messageArea();
    const book = h("button", { type: "submit", class: "primary" }, t("together.book", { labels: labels.join(", ") }));
    const form = h("form", { class: "card together-option", novalidate: true, "aria-labelledby": `together-${index}` },
      h("h3", { id: `together-${index}` }, t("together.option", { labels: labels.join(", "), area: option.area })),
      h("fieldset", {}, h("legend", {}, t("together.members")),
        option.seats.map((s, i) => field(t("together.member", { label: s.label }), inputs[i]))),
      h("div", { class: "actions" }, book),
      own);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const members = inputs.map((x) => x.value.trim());
      if (members.some((m) => !m)) return say(own, t("together.need_members"), "error");
      say(own, t("status.working"));
      try {
        const r = await api("POST", "reservations/group", { seat_ids: option.seat_ids, start_time: iso(w.start), end_time: iso(w.end), members });
        fill(options);
        say(note, t("together.booked", { labels: labels.join(", "), when: formatRange(w.start, w.end, b.time_zone || "UTC"), n: r.reservations.length }), "ok");
        note.append(" ", h("a", { href: "#/mine" }, t("find.see_mine")));
        note.tabIndex = -1;
        note.focus();
        await search({ quiet: true });
      } catch (err) {
        const text = err.code === "not_found" ? t("together.unknown_member", { detail: err.message })
          : err.code === "seat_conflict" ? t("together.conflict") : err.describe ? err.describe() : String(err);
        say(own, text, "error");
      }
    });
    return h("li", {}, form);
  }

  fill(body, form, togetherSection(), message, h("div", { class: "find-layout" }, results, detail));
  await search();

  const refresh = () => {
    if (document.visibilityState === "visible" && !document.querySelector("dialog[open]")) search({ quiet: true });
  };
  const stop = whenDataChanges(refresh, REFRESH_MS);
  const ticker = setInterval(tick, 1000);
  return () => {
    stop();
    clearInterval(ticker);
    clearTimeout(openTimer);
  };
}
