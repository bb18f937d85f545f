// The seat map (per area, a grid laid out by the seats' coordinates where they have them, else in
// id order) and a seat's day timeline. A seat's state is told by text and shape as well as colour.
import { h } from "./dom.js";
import { api, query, seg, iso } from "./api.js";
import { t, formatTime, zonedInstant, weekdayOf, addDays } from "./i18n.js";

const STATES = ["free", "yours", "taken", "maintenance", "closed", "restricted"];
/// A reservation that holds its seat for its holder.
const HOLDING = new Set(["HELD", "CONFIRMED", "CHECKED_IN"]);

/// The state of `seat` for a searched window: closed (a closure or opening hours), maintenance,
/// yours (the caller holds it then), restricted (kept for groups the caller is not in), taken, or
/// free. `view` is what `windowView` answers: `closed` (true, or a Set of areas) and `mine` (the
/// seat ids the caller holds in the window).
export function seatState(seat, view) {
  const closed = view?.closed;
  if (closed === true || (closed && closed.has(seat.area))) return "closed";
  if (seat.status === "MAINTENANCE") return "maintenance";
  if (view?.mine?.has(seat.id)) return "yours";
  if (seat.allowed === false) return "restricted";
  return seat.is_available ? "free" : "taken";
}

/// What a seat map shows for the window `w` (`day`: its local day) of branch `b`, computed the
/// same way for students and staff: the seats with their availability then (`params`: the
/// search's other filters), the closures and opening hours that close it, and the caller's own
/// reservations in it.
export async function windowView(b, w, day, params = {}) {
  const [found, closures, mine] = await Promise.all([
    api("GET", `seats${query({ ...params, branch: b.branch, available_only: false, start_time: iso(w.start), end_time: iso(w.end) })}`),
    api("GET", `branches/${seg(b.branch)}/closures`),
    api("GET", "reservations/mine?upcoming_only=true").catch(() => ({ reservations: [] })),
  ]);
  let closed = new Set();
  const reasons = [];
  for (const c of closures.closures) {
    if (new Date(c.start_time) < w.end && w.start < new Date(c.end_time)) {
      reasons.push(c.reason);
      if (c.area === null) closed = true;
      else if (closed !== true) closed.add(c.area);
    }
  }
  if (!withinHours(b, w.start, w.end, day)) {
    closed = true;
    reasons.push(t("find.outside_hours"));
  }
  const held = mine.reservations.filter((r) => HOLDING.has(r.status) && new Date(r.start_time) < w.end && w.start < new Date(r.end_time));
  return { seats: found.seats, total: found.total, count: found.count, closed, reasons, mine: new Set(held.map((r) => r.seat_id)) };
}

/// "postgraduate only": the groups a restricted seat is kept for, in words.
export function restrictedText(seat) {
  const groups = Array.isArray(seat.restricted_to) ? seat.restricted_to : [];
  return groups.length ? t("map.only", { groups: groups.join(", ") }) : t("state.restricted");
}

function icon(name) {
  const paths = {
    power: "M9 1 3 9h4l-1 6 6-8H8z",
    monitor: "M2 3h12v8H2zM6 13h4v1H6z",
    accessible: "M8 1a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM5 6h6v1.5H9v2.5l2 4H9.3L8 11.4 6.7 14H5l2-4V7.5H5z",
  };
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", paths[name]);
  svg.append(path);
  return svg;
}

export function legend() {
  return h("ul", { class: "legend", "aria-label": t("map.legend") },
    STATES.map((s) => h("li", {}, h("span", { class: `swatch seat-${s}`, "aria-hidden": "true" }, t(`mark.${s}`)), t(`state.${s}`))),
    h("li", {}, icon("power"), t("feature.power")),
    h("li", {}, icon("monitor"), t("feature.monitor")),
    h("li", {}, icon("accessible"), t("feature.accessible")));
}

/// Per area, a section with a grid of seat buttons. `stateOf(seat)` gives the state;
/// `onSelect(seat, button)` runs on a click; `selected` is the selected seat's id.
export function seatMap(seats, { stateOf, onSelect, selected }) {
  const areas = new Map();
  for (const s of [...seats].sort((a, b) => a.id - b.id)) {
    if (!areas.has(s.area)) areas.set(s.area, []);
    areas.get(s.area).push(s);
  }
  const sections = [];
  for (const [area, list] of areas) {
    const grid = h("ul", { class: "seat-grid", "aria-label": t("map.area_seats", { area }) });
    const placed = list.filter((s) => s.x !== null && s.x !== undefined && s.y !== null && s.y !== undefined);
    // Coordinates become grid lines by rank, so a plan drawn in centimetres stays compact.
    const xs = [...new Set(placed.map((s) => s.x))].sort((a, b) => a - b);
    const ys = [...new Set(placed.map((s) => s.y))].sort((a, b) => a - b);
    if (placed.length) grid.classList.add("placed");
    if (placed.length) grid.style.setProperty("--columns", String(Math.max(xs.length, 1)));
    for (const seat of list) {
      const state = stateOf(seat);
      const features = [
        seat.has_power ? t("feature.power") : null,
        seat.has_monitor ? t("feature.monitor") : null,
        seat.accessible ? t("feature.accessible") : null,
      ].filter(Boolean);
      // A holder who stepped away keeps the seat: said beside its state ("away now").
      const away = seat.away === true && state === "taken";
      const stateText = (state === "restricted" ? restrictedText(seat) : t(`state.${state}`)) + (away ? ` · ${t("state.away_now")}` : "");
      const button = h("button", {
        type: "button",
        class: `seat seat-${state}`,
        dataset: { seatId: seat.id, state },
        "aria-pressed": selected === seat.id ? "true" : "false",
        "aria-label": t("map.seat_label", { label: seat.label, state: stateText, features: features.join(", ") || t("feature.none") }),
        onclick: () => onSelect(seat, button),
      },
        h("span", { class: "seat-name" }, seat.label),
        h("span", { class: "seat-state" }, h("span", { class: "mark", "aria-hidden": "true" }, t(`mark.${state}`)), stateText),
        h("span", { class: "seat-icons" },
          seat.has_power ? icon("power") : null, seat.has_monitor ? icon("monitor") : null,
          seat.accessible ? icon("accessible") : null));
      const li = h("li", {}, button);
      if (placed.includes(seat)) {
        li.style.gridColumn = String(xs.indexOf(seat.x) + 1);
        li.style.gridRow = String(ys.indexOf(seat.y) + 1);
      }
      grid.append(li);
    }
    sections.push(h("section", { class: "area" }, h("h3", {}, area), grid));
  }
  if (!sections.length) return h("p", { class: "empty" }, t("map.no_seats"));
  return h("div", { class: "seat-map" }, sections);
}

/// The periods "HH:MM-HH:MM" a branch is open on a local day, as instants.
export function openPeriods(branch, day) {
  const zone = branch.time_zone || "UTC";
  const periods = branch.opening_hours?.[weekdayOf(day)] ?? ["00:00-24:00"];
  return periods.map((p) => {
    const [a, b] = p.split("-");
    const start = zonedInstant(day, a, zone);
    const end = b === "24:00" ? zonedInstant(addDays(day, 1), "00:00", zone) : zonedInstant(day, b, zone);
    return { start, end };
  });
}

/// Whether [start, end) lies inside one open period of the branch.
export function withinHours(branch, start, end, day) {
  // The periods of the day before, the day and the day after, joined where one ends as the next
  // begins (open around the clock is 00:00-24:00 each day: a window across midnight is open, as
  // the server says).
  const periods = [addDays(day, -1), day, addDays(day, 1)]
    .flatMap((d) => openPeriods(branch, d))
    .sort((a, b) => a.start - b.start);
  const joined = [];
  for (const p of periods) {
    const last = joined[joined.length - 1];
    if (last && p.start <= last.end) {
      if (p.end > last.end) last.end = p.end;
    } else {
      joined.push({ start: p.start, end: p.end });
    }
  }
  return joined.some((p) => p.start <= start && end <= p.end);
}

/// A seat's local day: opening hours, busy intervals and the chosen window on one bar, with the
/// same facts as text.
export function timeline(branch, day, busy, window) {
  const zone = branch.time_zone || "UTC";
  const dayStart = zonedInstant(day, "00:00", zone).getTime();
  const dayEnd = zonedInstant(addDays(day, 1), "00:00", zone).getTime();
  const span = dayEnd - dayStart;
  const place = (el, start, end) => {
    const a = Math.max(dayStart, start.getTime());
    const b = Math.min(dayEnd, end.getTime());
    el.style.left = `${((a - dayStart) / span) * 100}%`;
    el.style.width = `${Math.max(0.4, ((b - a) / span) * 100)}%`;
    return el;
  };
  const bar = h("div", { class: "timeline-bar", "aria-hidden": "true" });
  // Closed: the gaps between the open periods.
  let cursor = new Date(dayStart);
  for (const p of openPeriods(branch, day).sort((a, b) => a.start - b.start)) {
    if (p.start > cursor) bar.append(place(h("div", { class: "tl-closed" }), cursor, p.start));
    if (p.end > cursor) cursor = p.end;
  }
  if (cursor.getTime() < dayEnd) bar.append(place(h("div", { class: "tl-closed" }), cursor, new Date(dayEnd)));
  const visible = busy.filter((b) => new Date(b.end_time).getTime() > dayStart && new Date(b.start_time).getTime() < dayEnd);
  for (const b of visible) bar.append(place(h("div", { class: "tl-busy" }), new Date(b.start_time), new Date(b.end_time)));
  if (window) bar.append(place(h("div", { class: "tl-window" }), window.start, window.end));
  const ticks = h("div", { class: "timeline-ticks", "aria-hidden": "true" });
  for (let hour = 0; hour <= 24; hour += 6) ticks.append(h("span", {}, `${String(hour).padStart(2, "0")}:00`));
  const hours = branch.opening_hours?.[weekdayOf(day)] ?? [];
  return h("figure", { class: "timeline" },
    h("figcaption", {}, t("timeline.caption")),
    bar, ticks,
    h("ul", { class: "timeline-text" },
      h("li", {}, h("span", { class: "key key-open", "aria-hidden": "true" }), t("timeline.open", { hours: hours.length ? hours.join(", ") : t("timeline.closed_all_day") })),
      h("li", {}, h("span", { class: "key key-busy", "aria-hidden": "true" }),
        visible.length
          ? t("timeline.busy", { list: visible.map((b) => `${formatTime(new Date(b.start_time), zone)}–${formatTime(new Date(b.end_time), zone)}`).join(", ") })
          : t("timeline.free_all_day")),
      window ? h("li", {}, h("span", { class: "key key-window", "aria-hidden": "true" }), t("timeline.window", { start: formatTime(window.start, zone), end: formatTime(window.end, zone) })) : null));
}

