// The staff pages (admin role): all reservations with filters and paging; the seat map with
// maintenance, seat details and map positions; each branch's opening hours, closures, check-in
// at the seat, QR codes and release time; groups with their policies and strikes (groups.js);
// statistics and reports drawn as charts, with CSV downloads.
import { api, cached, forget, query, seg, iso, download, seatsByID } from "./api.js";
import { h, fill, field, check, messageArea, say, dialog, confirmDialog, table, pager, csvUploadForm } from "./dom.js";
import { t, has, formatRange, formatDateTime, zonedDay, zonedInstant, addDays } from "./i18n.js";
import { seatMap, legend } from "./seatmap.js";
import { barChart, columnChart, heatmap } from "./charts.js";
import { groups, strikes } from "./groups.js";

const SECTIONS = ["reservations", "seats", "branches", "groups", "strikes", "stats"];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const STATUSES = ["HELD", "CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED", "NO_SHOW"];
const errorText = (err) => (err.describe ? err.describe() : String(err));

export async function render(root, section = "reservations") {
  if (!SECTIONS.includes(section)) section = "reservations";
  const body = h("div", {});
  fill(root,
    h("h1", {}, t(`staff.${section}`)),
    h("nav", { class: "subnav", "aria-label": t("staff.sections") },
      h("ul", {}, SECTIONS.map((s) => h("li", {}, h("a", { href: `#/staff/${s}`, "aria-current": s === section ? "page" : false }, t(`staff.${s}`)))))),
    body);
  const pages = { reservations, seats, branches, groups, strikes, stats };
  return pages[section](body);
}

/// A card of filter fields with its submit button and a CSV download of what it selects
/// (`csv()` gives the path and the file name).
function filterForm(fields, submitLabel, submit, csv, message) {
  const form = h("form", { class: "card search", novalidate: true },
    h("div", { class: "row" }, fields),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, submitLabel),
      h("button", { type: "button", onclick: () => download(...csv()).catch((e) => say(message, errorText(e), "error")) }, t("action.download_csv"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  return form;
}

// ---- all reservations

async function reservations(root) {
  const status = h("select", {}, h("option", { value: "" }, t("staff.any_status")), STATUSES.map((s) => h("option", { value: s }, t(`status.${s}`))));
  const seat = h("input", { type: "number", min: 1, inputmode: "numeric" });
  const user = h("input", { type: "number", min: 1, inputmode: "numeric" });
  const message = messageArea();
  const list = h("div", {});
  const pageSize = 25;
  let offset = 0;
  const filters = () => ({ status: status.value, seat_id: seat.value, user_id: user.value });

  async function load() {
    say(message, t("status.loading"));
    try {
      const page = await api("GET", `reservations${query({ ...filters(), limit: pageSize, offset })}`);
      // The page's seats and students, by id (a consortium has far more than a page of either).
      const userIDs = [...new Set(page.reservations.map((r) => r.user_id))];
      const [seats, users] = await Promise.all([
        seatsByID(page.reservations.map((r) => r.seat_id)),
        userIDs.length ? api("GET", `admin/users${query({ ids: userIDs.join(","), limit: userIDs.length })}`).catch(() => ({ users: [] })) : { users: [] },
      ]);
      const students = new Map(users.users.map((u) => [u.id, u]));
      say(message, "");
      fill(list,
        table(t("staff.reservations_caption", { from: page.total ? offset + 1 : 0, to: Math.min(offset + page.count, page.total), total: page.total }), [
          { title: t("column.id"), cell: (r) => r.id },
          { title: t("column.seat"), cell: (r) => `${seats.get(r.seat_id)?.label ?? r.seat_id} (${seats.get(r.seat_id)?.branch ?? "?"})` },
          { title: t("column.student"), cell: (r) => account(students.get(r.user_id), r.user_id) },
          { title: t("column.when"), cell: (r) => formatRange(new Date(r.start_time), new Date(r.end_time), "UTC") },
          { title: t("column.status"), cell: (r) => h("span", { class: `badge status-${r.status.toLowerCase()}` }, t(`status.${r.status}`)) },
        ], page.reservations),
        pager({
          offset, size: pageSize, count: page.count, total: page.total, label: t("pager.reservations"),
          go: (next) => { offset = next; load(); },
        }));
    } catch (err) {
      say(message, errorText(err), "error");
    }
  }
  const form = filterForm([field(t("field.status"), status), field(t("field.seat_id"), seat), field(t("field.user_id"), user)],
    t("action.filter"), () => {
      offset = 0;
      load();
    }, () => [`admin/reservations.csv${query(filters())}`, "reservations.csv"], message);
  fill(root, form, message, list);
  await load();
}

/// An account in a list: its student id, and where it signs in (a DL-SMS password or a campus
/// identity), from the admin listing's `source`.
function account(user, id) {
  if (!user) return String(id);
  const source = user.source && `source.${user.source}`;
  return [user.student_id, source ? h("span", { class: "source" }, has(source) ? t(source) : user.source) : null];
}

// ---- seats: the map, maintenance, details and positions

async function seats(root) {
  const branchList = (await cached("branches", 30000)).branches;
  const branch = h("select", {}, branchList.map((b) => h("option", { value: b.branch }, b.branch)));
  const message = messageArea();
  const map = h("div", {});
  // A branch's seats a page at a time: a large branch's map would be too long to use at once.
  const pageSize = 500;
  let offset = 0;

  async function load() {
    try {
      const found = await api("GET", `seats${query({ branch: branch.value, available_only: false, limit: pageSize, offset })}`);
      fill(map, legend(), seatMap(found.seats, {
        stateOf: (s) => (s.status === "MAINTENANCE" ? "maintenance" : s.status === "OCCUPIED" ? "taken" : "free"),
        onSelect: (s) => editSeat(s),
      }), pager({
        offset, size: pageSize, count: found.count, total: found.total, label: t("pager.seats"),
        go: (next) => { offset = next; load(); },
      }));
    } catch (err) {
      say(message, errorText(err), "error");
    }
  }

  async function editSeat(seat) {
    const b = branchList.find((x) => x.branch === seat.branch);
    const isNew = !seat.id;
    const label = h("input", { value: seat.label ?? "", maxlength: 64 });
    const area = h("input", { value: seat.area ?? "", maxlength: 100, list: "areas" });
    const areas = h("datalist", { id: "areas" }, (b?.areas || []).map((a) => h("option", { value: a })));
    const power = h("input", { checked: seat.has_power });
    const monitor = h("input", { checked: seat.has_monitor });
    const accessible = h("input", { checked: seat.accessible });
    const notes = h("textarea", { maxlength: 500, rows: 2 }, seat.notes ?? "");
    const x = h("input", { type: "number", min: 0, max: 10000, value: seat.x ?? "" });
    const y = h("input", { type: "number", min: 0, max: 10000, value: seat.y ?? "" });
    const maintenance = h("input", { checked: seat.status === "MAINTENANCE" });
    const inner = messageArea();
    const qr = h("div", { class: "qr" });
    await dialog(isNew ? t("staff.new_seat") : t("staff.edit_seat", { label: seat.label }), (close) => {
      const form = h("form", { novalidate: true },
        field(t("field.label"), label), field(t("field.area"), area), areas,
        h("fieldset", { class: "row filters" }, h("legend", {}, t("find.features")),
          check(t("feature.power"), power), check(t("feature.monitor"), monitor), check(t("feature.accessible"), accessible)),
        field(t("field.notes"), notes),
        h("div", { class: "row" }, field(t("field.x"), x, t("staff.position_hint")), field(t("field.y"), y)),
        isNew ? null : check(t("staff.maintenance"), maintenance),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "primary" }, t("action.save")),
          isNew ? null : h("button", { type: "button", onclick: () => showQr(seat, qr, inner) }, t("staff.show_qr")),
          h("button", { type: "button", onclick: () => close() }, t("action.close"))),
        inner, qr);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const position = (v) => (v.value === "" ? null : Number(v.value));
        const change = {
          area: area.value.trim(), label: label.value.trim() || null, has_power: power.checked, has_monitor: monitor.checked,
          accessible: accessible.checked, notes: notes.value.trim() || null, x: position(x), y: position(y),
        };
        say(inner, t("status.working"));
        try {
          if (isNew) await api("POST", "admin/seats", { ...change, branch: seat.branch });
          else {
            await api("PATCH", `admin/seats/${seat.id}`, change);
            if (maintenance.checked !== (seat.status === "MAINTENANCE")) {
              await api("PUT", `admin/seats/${seat.id}/maintenance`, { maintenance: maintenance.checked });
            }
          }
          forget("seats");
          forget("branches");
          say(message, isNew ? t("staff.seat_added") : t("staff.seat_saved", { label: change.label ?? seat.label }), "ok");
          close(true);
        } catch (err) {
          say(inner, errorText(err), "error");
        }
      });
      return form;
    });
    await load();
    // Back to the same seat on the redrawn map (or the button that added one).
    const again = seat.id ? map.querySelector(`.seat[data-seat-id="${seat.id}"]`) : root.querySelector(".add-seat");
    again?.focus();
  }

  branch.addEventListener("change", () => {
    offset = 0;
    load();
  });
  fill(root, h("div", { class: "card search" },
    h("div", { class: "row" }, field(t("field.branch"), branch)),
    h("p", { class: "aside" }, t("staff.seats_intro")),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "add-seat", onclick: () => editSeat({ branch: branch.value, area: "", has_power: false, has_monitor: false, accessible: false }) }, t("staff.add_seat")),
      h("button", { type: "button", onclick: () => download("admin/catalog.csv", "catalog.csv").catch((e) => say(message, errorText(e), "error")) }, t("staff.export_catalog"))),
    importForm(message, async () => {
      forget("seats");
      forget("branches");
      await load();
    })),
  message, map);
  await load();
}

/// Import seats from a CSV file (all rows or none; the server names each wrong line).
function importForm(message, done) {
  return csvUploadForm({
    label: t("staff.import_file"), hint: t("staff.import_hint"), name: "catalog-csv", maxBytes: 8 * 1024 * 1024,
    message, after: done,
    send: async (text) => {
      const r = await api("POST", "admin/catalog.csv", undefined, { text, type: "text/csv" });
      return t("staff.imported", { rows: r.rows, created: r.seats_created, updated: r.seats_updated });
    },
  });
}

async function showQr(seat, where, message) {
  try {
    const response = await api("GET", `admin/seats/${seat.id}/qr.svg`, undefined, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    fill(where, h("img", { src: url, alt: t("staff.qr_alt", { label: seat.label }), width: 180, height: 180 }));
  } catch (err) {
    say(message, errorText(err), "error");
  }
}

// ---- branches: hours, check-in at the seat, QR sheets, closures

async function branches(root) {
  const list = (await api("GET", "branches")).branches;
  const select = h("select", {}, list.map((b) => h("option", { value: b.branch }, b.branch)));
  const area = h("div", {});
  const paint = async () => {
    const b = (await api("GET", "branches")).branches.find((x) => x.branch === select.value);
    fill(area, await hoursCard(b, paint), releaseCard(b, paint), await closuresCard(b), codesCard(b, paint));
  };
  select.addEventListener("change", paint);
  fill(root, h("div", { class: "card search" }, h("div", { class: "row" }, field(t("field.branch"), select))), area);
  await paint();
}

async function hoursCard(b, repaint) {
  const message = messageArea();
  const zone = h("input", { value: b.time_zone, required: true });
  const days = WEEKDAYS.map((d) => h("input", { value: (b.opening_hours?.[d] || []).join(", "), placeholder: t("staff.hours_placeholder") }));
  const presence = h("input", { checked: b.presence_required });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, t("staff.hours")),
    field(t("field.time_zone"), zone, t("staff.zone_hint")),
    h("div", { class: "hours-grid" }, WEEKDAYS.map((d, i) => field(t(`weekday.${d}`), days[i]))),
    h("p", { class: "aside" }, t("staff.hours_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save_hours"))),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const hours = {};
    WEEKDAYS.forEach((d, i) => {
      hours[d] = days[i].value.split(",").map((p) => p.trim()).filter(Boolean);
    });
    try {
      await api("PUT", `admin/branches/${seg(b.branch)}/hours`, { time_zone: zone.value.trim(), hours });
      forget("branches");
      say(message, t("staff.hours_saved"), "ok");
    } catch (err) {
      say(message, errorText(err), "error");
    }
  });
  const presenceMessage = messageArea();
  presence.addEventListener("change", async () => {
    try {
      await api("PUT", `admin/branches/${seg(b.branch)}/checkin`, { presence_required: presence.checked });
      say(presenceMessage, presence.checked ? t("staff.presence_on") : t("staff.presence_off"), "ok");
    } catch (err) {
      presence.checked = !presence.checked;
      say(presenceMessage, errorText(err), "error");
    }
  });
  return h("div", {}, form, h("div", { class: "card" }, h("h2", {}, t("staff.checkin")), check(t("staff.presence"), presence), presenceMessage));
}

/// The release time: none, or "seats for day D open at HH:MM on day D − k" (library time).
export function releaseText(release) {
  if (!release || release.days_before === null || release.days_before === undefined) return null;
  const k = release.days_before;
  const days = k === 0 ? t("release.same_day") : k === 1 ? t("release.day") : t("release.days", { n: k });
  return t("release.rule", { time: release.time, days });
}

function releaseCard(b, repaint) {
  const message = messageArea();
  const current = b.release && b.release.days_before !== null && b.release.days_before !== undefined ? b.release : null;
  const none = h("input", { type: "radio", name: "release-mode", value: "none", checked: !current });
  const at = h("input", { type: "radio", name: "release-mode", value: "at", checked: !!current });
  const days = h("input", { type: "number", name: "release-days", min: 0, max: 365, step: 1, inputmode: "numeric", value: current ? current.days_before : 1 });
  const time = h("input", { type: "time", name: "release-time", step: 60, value: current ? current.time : "07:00" });
  const radio = (input, label) => {
    input.id = `release-${input.value}`;
    return h("div", { class: "check" }, input, h("label", { for: input.id }, label));
  };
  const sync = () => {
    days.disabled = none.checked;
    time.disabled = none.checked;
  };
  none.addEventListener("change", sync);
  at.addEventListener("change", sync);
  sync();
  const now = h("p", { class: "release-current" }, current ? t("release.current", { rule: releaseText(current) }) : t("release.current_none"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "release-heading" },
    h("h2", { id: "release-heading" }, t("release.title")),
    h("p", { class: "aside" }, t("release.intro")),
    now,
    h("fieldset", {}, h("legend", { class: "visually-hidden" }, t("release.title")),
      radio(none, t("release.none")), radio(at, t("release.at"))),
    h("div", { class: "row" }, field(t("release.days_before"), days, t("release.days_before_hint")), field(t("release.time"), time, b.time_zone)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("release.save"))),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let body = { days_before: null };
    if (at.checked) {
      const k = Number(days.value);
      if (!Number.isInteger(k) || k < 0 || k > 365 || !/^\d\d:\d\d$/.test(time.value)) {
        return say(message, t("groups.bad_number", { field: t("release.days_before"), min: 0, max: 365 }), "error");
      }
      body = { days_before: k, time: time.value };
    }
    try {
      const saved = await api("PUT", `admin/branches/${seg(b.branch)}/release`, body);
      forget("branches");
      const rule = saved?.release ?? (body.days_before === null ? null : body);
      fill(now, rule && rule.days_before !== null ? t("release.current", { rule: releaseText(rule) }) : t("release.current_none"));
      say(message, body.days_before === null ? t("release.removed") : t("release.saved"), "ok");
    } catch (err) {
      say(message, errorText(err), "error");
    }
  });
  return form;
}

async function closuresCard(b) {
  const message = messageArea();
  const listEl = h("div", {});
  const heading = h("h2", { id: "closures-heading", tabindex: "-1" }, t("staff.closures"));
  const zoneName = b.time_zone || "UTC";
  const load = async () => {
    const closures = (await api("GET", `branches/${seg(b.branch)}/closures`)).closures;
    fill(listEl, closures.length ? table(t("staff.closures_caption"), [
      { title: t("column.where"), cell: (c) => c.area ?? t("staff.whole_branch") },
      { title: t("column.when"), cell: (c) => `${formatDateTime(new Date(c.start_time), zoneName)} – ${formatDateTime(new Date(c.end_time), zoneName)}` },
      { title: t("column.reason"), cell: (c) => c.reason },
      { title: t("column.actions"), cell: (c) => h("button", { type: "button", onclick: async () => {
        if (!(await confirmDialog(t("staff.remove_closure"), t("staff.remove_closure_text", { reason: c.reason }), t("action.remove")))) return;
        try {
          await api("DELETE", `admin/branches/${seg(b.branch)}/closures/${c.id}`);
          say(message, t("staff.closure_removed"), "ok");
        } catch (err) {
          say(message, errorText(err), "error");
        }
        await load();
        heading.focus(); // the row and its button are gone

      } }, t("action.remove")) },
    ], closures) : h("p", { class: "empty" }, t("staff.no_closures")));
  };
  const today = zonedDay(new Date(), zoneName);
  const where = h("select", {}, h("option", { value: "" }, t("staff.whole_branch")), b.areas.map((a) => h("option", { value: a }, a)));
  const fromDay = h("input", { type: "date", value: today });
  const fromTime = h("input", { type: "time", value: "00:00" });
  const toDay = h("input", { type: "date", value: addDays(today, 1) });
  const toTime = h("input", { type: "time", value: "00:00" });
  const reason = h("input", { maxlength: 200, required: true });
  const form = h("form", { novalidate: true },
    h("h3", {}, t("staff.new_closure")),
    h("div", { class: "row" }, field(t("field.area"), where), field(t("field.reason"), reason)),
    h("div", { class: "row" }, field(t("field.from_day"), fromDay), field(t("field.from"), fromTime), field(t("field.to_day"), toDay), field(t("field.to"), toTime)),
    h("p", { class: "aside" }, t("staff.closure_hint", { zone: zoneName })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.declare_closure"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!fromDay.value || !toDay.value || !fromTime.value || !toTime.value) return say(message, t("find.need_window"), "error");
    try {
      const outcome = await api("POST", `admin/branches/${seg(b.branch)}/closures`, {
        ...(where.value ? { area: where.value } : {}), reason: reason.value.trim(),
        start_time: iso(zonedInstant(fromDay.value, fromTime.value, zoneName)), end_time: iso(zonedInstant(toDay.value, toTime.value, zoneName)),
      });
      say(message, t("staff.closure_added", { n: outcome.cancelled.length }), "ok");
      reason.value = "";
    } catch (err) {
      say(message, errorText(err), "error");
    }
    await load();
  });
  await load();
  return h("section", { class: "card", "aria-labelledby": "closures-heading" }, heading, listEl, form, message);
}

function codesCard(b) {
  const message = messageArea();
  return h("section", { class: "card" }, h("h2", {}, t("staff.codes")),
    h("p", { class: "aside" }, t("staff.codes_intro")),
    h("div", { class: "actions" },
      b.areas.map((a) => h("button", { type: "button", onclick: () => download(`admin/branches/${seg(b.branch)}/areas/${seg(a)}/qr-sheet.svg`, `${b.branch} - ${a} - codes.svg`).catch((e) => say(message, errorText(e), "error")) }, t("staff.download_sheet", { area: a }))),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!(await confirmDialog(t("staff.rotate"), t("staff.rotate_text", { branch: b.branch }), t("staff.rotate")))) return;
        try {
          await api("POST", `admin/branches/${seg(b.branch)}/seat-codes/rotate`);
          say(message, t("staff.rotated"), "ok");
        } catch (err) {
          say(message, errorText(err), "error");
        }
      } }, t("staff.rotate"))),
    message);
}

// ---- statistics and reports

async function stats(root) {
  const message = messageArea();
  const now = h("div", { class: "charts" });
  const report = h("div", { class: "charts" });
  const today = zonedDay(new Date(), "UTC");
  const from = h("input", { type: "date", value: addDays(today, -7) });
  const to = h("input", { type: "date", value: addDays(today, 7) });
  const branchList = (await cached("branches", 30000)).branches;
  const branch = h("select", {}, h("option", { value: "" }, t("staff.all_branches")), branchList.map((b) => h("option", { value: b.branch }, b.branch)));
  const params = () => ({ branch: branch.value, from: `${from.value}T00:00:00Z`, to: `${to.value}T00:00:00Z`, granularity: "day" });

  async function load() {
    try {
      const [s, r] = await Promise.all([api("GET", "admin/stats"), api("GET", `admin/reports/utilisation${query(params())}`)]);
      fill(now,
        barChart(t("staff.chart_utilisation"), s.branches.map((b) => ({ label: b.branch, value: b.utilisation_now }))),
        barChart(t("staff.chart_no_shows"), s.branches.map((b) => ({ label: b.branch, value: b.no_show_rate_percent }))));
      const days = [];
      for (let d = from.value; d < to.value && days.length < 400; d = addDays(d, 1)) days.push({ day: d, label: d.slice(5), booked: 0, occupied: 0 });
      for (const bucket of r.buckets) {
        // A bucket is a day of its library's own calendar: its start is that local midnight.
        const zone = branchList.find((b) => b.branch === bucket.branch)?.time_zone || "UTC";
        const d = days.find((x) => x.day === zonedDay(new Date(bucket.bucket_start), zone));
        if (d) {
          d.booked += bucket.booked_hours;
          d.occupied += bucket.occupied_hours;
        }
      }
      fill(report,
        columnChart(t("staff.chart_hours"), days, [{ key: "booked", title: t("staff.booked_hours") }, { key: "occupied", title: t("staff.occupied_hours") }]),
        heatmap(t("staff.chart_heatmap"), r.heatmap, WEEKDAYS, WEEKDAYS.map((w) => t(`weekday.${w}`).slice(0, 3))));
      say(message, "");
    } catch (err) {
      say(message, errorText(err), "error");
    }
  }
  const form = filterForm([field(t("field.branch"), branch), field(t("field.from_day"), from), field(t("field.to_day"), to)],
    t("action.show"), load, () => [`admin/reports/utilisation${query({ ...params(), format: "csv" })}`, "utilisation.csv"], message);
  fill(root, h("section", { "aria-labelledby": "now-heading" }, h("h2", { id: "now-heading" }, t("staff.now")), now),
    h("section", { "aria-labelledby": "report-heading" }, h("h2", { id: "report-heading" }, t("staff.report")), form, message, report));
  await load();
}

