// The staff pages (admin role): all reservations with filters and paging; the seat map with
// maintenance, seat details and map positions; each branch's opening hours, closures, check-in
// at the seat, QR codes and release time; groups with their policies and strikes (groups.js);
// statistics and reports drawn as charts, with CSV downloads; the audit trail of staff actions
// (audit.js).
import { api, cached, forget, query, seg, iso, download, seatsByID } from "./api.js";
import { h, fill, field, check, messageArea, say, dialog, confirmDialog, table, pager, csvUploadForm } from "./dom.js";
import { t, has, formatNumber, formatRange, formatDateTime, zonedDay, zonedInstant, addDays } from "./i18n.js";
import { seatMap, seatState, legend, windowView } from "./seatmap.js";
import { barChart, columnChart, heatmap } from "./charts.js";
import { groups, strikes } from "./groups.js";
import { audit } from "./audit.js";

const SECTIONS = ["reservations", "seats", "branches", "groups", "strikes", "stats", "audit"];
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const STATUSES = ["HELD", "CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED", "NO_SHOW"];
const errorText = (err) => (err.describe ? err.describe() : String(err));
/// A status as staff read it (a held seat is held for its student, not for the reader).
const statusText = (s) => t(has(`staff_status.${s}`) ? `staff_status.${s}` : `status.${s}`);

export async function render(root, section = "reservations") {
  if (!SECTIONS.includes(section)) section = "reservations";
  const body = h("div", {});
  fill(root,
    h("h1", {}, t(`staff.${section}`)),
    h("nav", { class: "subnav", "aria-label": t("staff.sections") },
      h("ul", {}, SECTIONS.map((s) => h("li", {}, h("a", { href: `#/staff/${s}`, "aria-current": s === section ? "page" : false }, t(`staff.${s}`)))))),
    body);
  const pages = { reservations, seats, branches, groups, strikes, stats, audit };
  return pages[section](body);
}

/// A card of filter fields with its submit button and a CSV download of what it selects
/// (`csv()` gives the path and the file name).
function filterForm(fields, submitLabel, submit, csv, message) {
  const form = h("form", { class: "card search", novalidate: true },
    h("div", { class: "row" }, fields),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, submitLabel),
      h("button", { type: "button", onclick: () => Promise.resolve(csv()).then((c) => download(...c)).catch((e) => say(message, errorText(e), "error")) }, t("action.download_csv"))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  return form;
}

// ---- all reservations

async function reservations(root) {
  const status = h("select", {}, h("option", { value: "" }, t("staff.any_status")), STATUSES.map((s) => h("option", { value: s }, statusText(s))));
  const seat = h("input", { type: "number", min: 1, inputmode: "numeric" });
  const user = h("input", { name: "student", maxlength: 64, autocomplete: "off", spellcheck: "false" });
  const message = messageArea();
  const list = h("div", {});
  const pageSize = 25;
  let offset = 0;
  /// The filters as the API takes them: the student id the table shows (`S2021001`) is looked up
  /// to the account's number.
  const filters = async () => ({ status: status.value, seat_id: seat.value, user_id: await accountNumber(user.value.trim()) });

  async function load() {
    say(message, t("status.loading"));
    try {
      const page = await api("GET", `reservations${query({ ...(await filters()), limit: pageSize, offset })}`);
      // The page's seats and students, by id (a consortium has far more than a page of either).
      const userIDs = [...new Set(page.reservations.map((r) => r.user_id))];
      const [seats, users] = await Promise.all([
        seatsByID(page.reservations.map((r) => r.seat_id)),
        userIDs.length ? api("GET", `admin/users${query({ ids: userIDs.join(","), limit: userIDs.length })}`).catch(() => ({ users: [] })) : { users: [] },
      ]);
      const students = new Map(users.users.map((u) => [u.id, u]));
      say(message, "");
      fill(list,
        table(t("staff.reservations_caption", { from: formatNumber(page.total ? offset + 1 : 0), to: formatNumber(Math.min(offset + page.count, page.total)), total: formatNumber(page.total) }), [
          { title: t("column.id"), cell: (r) => r.id },
          { title: t("column.seat"), cell: (r) => `${seats.get(r.seat_id)?.label ?? r.seat_id} (${seats.get(r.seat_id)?.branch ?? "?"})` },
          { title: t("column.student"), cell: (r) => account(students.get(r.user_id), r.user_id) },
          { title: t("column.when"), cell: (r) => formatRange(new Date(r.start_time), new Date(r.end_time), "UTC") },
          { title: t("column.status"), cell: (r) => h("span", { class: `badge status-${r.status.toLowerCase()}` }, statusText(r.status)) },
        ], page.reservations),
        pager({
          offset, size: pageSize, count: page.count, total: page.total, label: t("pager.reservations"),
          go: (next) => { offset = next; load(); },
        }));
    } catch (err) {
      // The old results would read as the answer to the new filter.
      fill(list);
      say(message, errorText(err), "error");
    }
  }
  const form = filterForm([field(t("field.status"), status), field(t("field.seat_id"), seat), field(t("field.student_id"), user, t("staff.student_hint"))],
    t("action.filter"), () => {
      offset = 0;
      load();
    }, async () => [`admin/reservations.csv${query(await filters())}`, "reservations.csv"], message);
  fill(root, form, message, list);
  await load();
}

/// The account number of the student id people see (`S2021001`); "" for none. An id with no
/// account is refused in words.
async function accountNumber(studentID) {
  if (!studentID) return "";
  const found = await api("GET", `admin/users${query({ student_id: studentID, limit: 1 })}`);
  if (found.users.length) return found.users[0].id;
  throw new Error(t("staff.no_such_student", { id: studentID.length > 40 ? `${studentID.slice(0, 40)}…` : studentID }));
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
  let branchList = (await cached("branches", 30000)).branches;
  const branch = h("select", {}, branchList.map((b) => h("option", { value: b.branch }, b.branch)));
  const message = messageArea();
  const map = h("div", {});
  // A branch's seats a page at a time: a large branch's map would be too long to use at once.
  const pageSize = 500;
  let offset = 0;

  let loading = 0;
  async function load() {
    const mine = ++loading;
    try {
      // The states students see for the next hour (from the next quarter hour), by the same code.
      const b = branchList.find((x) => x.branch === branch.value) || branchList[0];
      const zone = b?.time_zone || "UTC";
      const start = new Date(Math.ceil(Date.now() / 900000) * 900000);
      const w = { start, end: new Date(start.getTime() + 3600000) };
      const found = await windowView(b, w, zonedDay(start, zone), { limit: pageSize, offset });
      if (mine !== loading) return; // another library was chosen meanwhile
      fill(map, legend(),
        h("p", { class: "summary" }, t("staff.map_window", { when: formatRange(w.start, w.end, zone) })),
        found.reasons.length ? h("p", { class: "notice" }, t("find.closed_because", { reasons: found.reasons.join("; ") })) : null,
        seatMap(found.seats, {
          stateOf: (s) => seatState(s, found),
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
        h("fieldset", { class: "row filters" }, h("legend", {}, t("staff.seat_features")),
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
      // A library the file named is in the menu at once.
      const chosen = branch.value;
      branchList = (await cached("branches", 30000)).branches;
      fill(branch, branchList.map((b) => h("option", { value: b.branch }, b.branch)));
      if (branchList.some((b) => b.branch === chosen)) branch.value = chosen;
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
      const libraries = r.branches_created ? ` ${t("staff.imported_libraries", { n: r.branches_created })}` : "";
      return t("staff.imported", { rows: formatNumber(r.rows), created: formatNumber(r.seats_created), updated: formatNumber(r.seats_updated) }) + libraries;
    },
  });
}

async function showQr(seat, where, message) {
  try {
    // On the screen only: a loopback address is warned about on the Libraries page.
    const response = await api("GET", `admin/seats/${seat.id}/qr.svg?loopback=true`, undefined, { raw: true });
    const url = URL.createObjectURL(await response.blob());
    fill(where, h("img", { src: url, alt: t("staff.qr_alt", { label: seat.label }), width: 180, height: 180 }));
  } catch (err) {
    say(message, errorText(err), "error");
  }
}

// ---- branches: hours, check-in at the seat, QR sheets, closures

async function branches(root) {
  const select = h("select", { name: "library" });
  const area = h("div", {});
  const menu = async (chosen) => {
    const list = (await api("GET", "branches")).branches;
    fill(select, list.map((b) => h("option", { value: b.branch }, b.branch)));
    if (chosen) select.value = chosen;
  };
  // Only the newest paint draws (a library chosen while the previous one loads wins).
  let painting = 0;
  const paint = async () => {
    const mine = ++painting;
    const b = (await api("GET", "branches")).branches.find((x) => x.branch === select.value);
    if (!b) return fill(area);
    let closures = await closuresCard(b);
    // A new time zone reaches the closures' times and hint at once.
    const zoneSaved = async (zone) => {
      b.time_zone = zone;
      const next = await closuresCard(b);
      closures.replaceWith(next);
      closures = next;
    };
    const cards = [await hoursCard(b, zoneSaved), await displayCard(b), releaseCard(b, paint), closures, await codesCard(b)];
    if (mine === painting) fill(area, ...cards);
  };
  select.addEventListener("change", paint);
  await menu();
  fill(root, h("div", { class: "card search" }, h("div", { class: "row" }, field(t("field.branch"), select))),
    area,
    newLibraryCard(async (name) => {
      forget("branches");
      await menu(name);
      await paint();
    }));
  await paint();
}

/// The IANA time zones, for a searchable list (typing filters it).
function zoneList(id) {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (!zones.includes("UTC")) zones.unshift("UTC");
  return h("datalist", { id }, zones.map((z) => h("option", { value: z })));
}

/// A time zone field: typed or chosen from the IANA list; `valid()` says whether the browser
/// knows it (the list has each zone's canonical name; an alias such as Asia/Kolkata counts too).
function zoneField(value, id) {
  const list = zoneList(`${id}-list`);
  const input = h("input", { value, required: true, list: list.id, name: id, autocomplete: "off", spellcheck: "false" });
  const valid = () => {
    try {
      return input.value.trim() !== "" && !!new Intl.DateTimeFormat("en", { timeZone: input.value.trim() });
    } catch {
      return false;
    }
  };
  return { input, list, valid };
}

/// Opening hours as one field per weekday ("08:00-12:00, 13:00-22:00"; empty: closed).
const hoursFields = (hours) => WEEKDAYS.map((d) => h("input", { name: `hours-${d}`, value: (hours?.[d] || []).join(", "), placeholder: t("staff.hours_placeholder") }));
const hoursOf = (fields) => Object.fromEntries(WEEKDAYS.map((d, i) => [d, fields[i].value.split(",").map((p) => p.trim()).filter(Boolean)]));

/// A new library: its name, time zone, weekly hours and first area (POST /admin/branches).
function newLibraryCard(created) {
  const message = messageArea();
  const name = h("input", { name: "new-library-name", maxlength: 100, required: true });
  const zone = zoneField(localZoneName(), "new-library-zone");
  const firstArea = h("input", { name: "new-library-area", maxlength: 100, required: true, value: t("staff.first_area_default") });
  const weekdays = ["08:00-22:00"];
  const days = hoursFields(Object.fromEntries(WEEKDAYS.map((d, i) => [d, i < 5 ? weekdays : i === 5 ? ["10:00-18:00"] : []])));
  const form = h("form", { class: "new-library", novalidate: true },
    h("div", { class: "row" }, field(t("field.library_name"), name), field(t("field.first_area"), firstArea),
      field(t("field.time_zone"), zone.input, t("staff.zone_hint")), zone.list),
    h("div", { class: "hours-grid" }, WEEKDAYS.map((d, i) => field(t(`weekday.${d}`), days[i]))),
    h("p", { class: "aside" }, t("staff.hours_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.create_library"))),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const library = name.value.trim();
    if (!library || !firstArea.value.trim()) return say(message, t("staff.library_needs"), "error");
    if (!zone.valid()) return say(message, t("staff.zone_unknown", { zone: zone.input.value }), "error");
    try {
      await api("POST", "admin/branches", { name: library, areas: [firstArea.value.trim()], time_zone: zone.input.value.trim(), hours: hoursOf(days) });
      say(message, t("staff.library_created", { name: library }), "ok");
      name.value = "";
      await created(library);
    } catch (err) {
      say(message, errorText(err), "error");
    }
  });
  return h("details", { class: "card" }, h("summary", {}, h("h2", {}, t("staff.new_library"))), form);
}

const localZoneName = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

async function hoursCard(b, zoneSaved) {
  const message = messageArea();
  const zoneInput = zoneField(b.time_zone, "time-zone");
  const zone = zoneInput.input;
  const days = hoursFields(b.opening_hours);
  const presence = h("input", { checked: b.presence_required });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, t("staff.hours")),
    field(t("field.time_zone"), zone, t("staff.zone_hint")), zoneInput.list,
    h("div", { class: "hours-grid" }, WEEKDAYS.map((d, i) => field(t(`weekday.${d}`), days[i]))),
    h("p", { class: "aside" }, t("staff.hours_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("action.save_hours"))),
    message);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!zoneInput.valid()) return say(message, t("staff.zone_unknown", { zone: zone.value }), "error");
    try {
      await api("PUT", `admin/branches/${seg(b.branch)}/hours`, { time_zone: zone.value.trim(), hours: hoursOf(days) });
      forget("branches");
      say(message, t("staff.hours_saved"), "ok");
      if (zone.value.trim() !== b.time_zone) await zoneSaved(zone.value.trim());
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

/// Whether the library's entrance display is on: the branch's `display_enabled`, or (a server
/// whose branch listing does not have it) whether its public data answers.
async function displayEnabled(b) {
  if (typeof b.display_enabled === "boolean") return b.display_enabled;
  try {
    const r = await fetch(`public/display/${seg(b.branch)}`, { cache: "no-cache" });
    return r.status !== 404;
  } catch {
    return true;
  }
}

/// The entrance display (`display/{branch}`): on or off (PUT admin/branches/{name}/display), and a
/// link to open it.
async function displayCard(b) {
  const enabled = h("input", { name: "display-enabled", checked: await displayEnabled(b) });
  const message = messageArea();
  enabled.addEventListener("change", async () => {
    enabled.disabled = true;
    try {
      const saved = await api("PUT", `admin/branches/${seg(b.branch)}/display`, { enabled: enabled.checked });
      if (typeof saved?.display_enabled === "boolean") enabled.checked = saved.display_enabled;
      forget("branches");
      say(message, enabled.checked ? t("staff.display_on") : t("staff.display_off"), "ok");
    } catch (err) {
      enabled.checked = !enabled.checked;
      say(message, errorText(err), "error");
    }
    enabled.disabled = false;
    enabled.focus();
  });
  return h("section", { class: "card display-settings", "aria-labelledby": "display-heading" },
    h("h2", { id: "display-heading" }, t("staff.display_title")),
    h("p", { class: "aside" }, t("staff.display_intro")),
    check(t("staff.display", { path: `/display/${b.branch}` }), enabled),
    h("p", {}, h("a", { href: `display/${seg(b.branch)}`, target: "_blank", rel: "noopener", class: "display-link" }, t("staff.display_open"))),
    message);
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
      say(message, t("staff.closure_added", { n: formatNumber(outcome.cancelled.length) }), "ok");
      reason.value = "";
    } catch (err) {
      say(message, errorText(err), "error");
    }
    await load();
  });
  await load();
  return h("section", { class: "card", "aria-labelledby": "closures-heading" }, heading, listEl, form, message);
}

/// The address the seats' codes of `b` point at (from one seat's code), or null (no seats).
async function codeBase(b) {
  try {
    const one = await api("GET", `seats${query({ branch: b.branch, available_only: false, limit: 1 })}`);
    if (!one.seats.length) return null;
    const code = await api("GET", `admin/seats/${one.seats[0].id}/checkin-code`);
    return new URL(code.url).origin;
  } catch {
    return null;
  }
}

/// Whether a URL's host is this machine only (no phone can open it).
export const isLoopback = (origin) => /^https?:\/\/(localhost|127\.[\d.]+|\[::1\])(:\d+)?$/i.test(origin || "");

/// A sheet of an area's codes; a loopback address needs the librarian's confirmation first (the
/// server refuses it otherwise, 409 loopback_url).
async function printSheet(b, a, base, message) {
  const path = `admin/branches/${seg(b.branch)}/areas/${seg(a)}/qr-sheet.svg`;
  const name = `${b.branch} - ${a} - codes.svg`;
  try {
    if (!isLoopback(base)) return await download(path, name);
  } catch (err) {
    if (err.code !== "loopback_url") return say(message, errorText(err), "error");
  }
  if (!(await confirmDialog(t("staff.loopback_title"), t("staff.loopback_text", { url: base || "127.0.0.1" }), t("staff.print_anyway")))) return;
  await download(`${path}?loopback=true`, name).catch((e) => say(message, errorText(e), "error"));
}

async function codesCard(b) {
  const message = messageArea();
  const base = await codeBase(b);
  return h("section", { class: "card codes" }, h("h2", {}, t("staff.codes")),
    h("p", { class: "aside" }, t("staff.codes_intro")),
    isLoopback(base) ? h("p", { class: "notice loopback-warning" }, t("staff.loopback_warning", { url: base })) : null,
    h("div", { class: "actions" },
      b.areas.map((a) => h("button", { type: "button", onclick: () => printSheet(b, a, base, message) }, t("staff.download_sheet", { area: a }))),
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
  const noShows = h("div", { class: "charts" });
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
      fill(now, barChart(t("staff.chart_utilisation"), s.branches.map((b) => ({ label: b.branch, value: b.utilisation_now }))));
      fill(noShows, barChart(t("staff.chart_no_shows"), s.branches.map((b) => ({ label: b.branch, value: b.no_show_rate_percent }))));
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
    h("section", { "aria-labelledby": "no-shows-heading" }, h("h2", { id: "no-shows-heading" }, t("staff.no_shows")), noShows),
    h("section", { "aria-labelledby": "report-heading" }, h("h2", { id: "report-heading" }, t("staff.report")), form, message, report));
  await load();
}

