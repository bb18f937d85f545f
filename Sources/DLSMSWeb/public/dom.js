// Building the page without a framework: `h` makes elements, `dialog` a modal that traps focus
// and closes on Escape (the native <dialog>), `toast` a message in the live region.
import { t, formatNumber } from "./i18n.js";

/// An element: h("button", {class: "x", onclick: f, "aria-label": "…"}, "text", child, …).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/// Replaces the children of `el`.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;
/// A labelled form control: h("label") + the control, tied by id.
export function field(label, control, hint) {
  const id = control.id || `f${++fieldCounter}`;
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

/// A labelled checkbox.
export function check(label, input) {
  input.type = "checkbox";
  const id = input.id || `f${++fieldCounter}`;
  input.id = id;
  return h("div", { class: "check" }, input, h("label", { for: id }, label));
}

/// A message area: `say(el, text, "error" | "ok")`; errors are announced at once (role=alert).
export function messageArea() {
  return h("div", { class: "message", role: "status", "aria-live": "polite" });
}
export function say(el, text, kind = "ok") {
  el.className = `message ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  fill(el, text || "");
}

/// A message for the page shown next (an outcome said after moving there): `leaveNote` keeps it,
/// that page's `takeNote` takes it (once).
let note = null;
export function leaveNote(text, kind = "ok") {
  note = { text, kind };
}
export function takeNote() {
  const taken = note;
  note = null;
  return taken;
}

/// A modal dialog: `build(close)` returns its body; resolves with what `close` was given.
/// Focus moves into it, Tab stays inside (the rest of the page is inert), Escape closes it, and
/// focus goes back where it was.
/// `wide` makes room for a long form.
export function dialog(title, build, { wide = false } = {}) {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const titleId = `d${++fieldCounter}`;
    const d = h("dialog", { class: wide ? "dialog wide" : "dialog", "aria-labelledby": titleId });
    let result;
    const close = (value) => {
      result = value;
      d.close();
    };
    d.addEventListener("close", () => {
      d.remove();
      if (before && before.isConnected) before.focus();
      resolve(result);
    });
    fill(
      d,
      h("div", { class: "dialog-head" },
        h("h2", { id: titleId }, title),
        h("button", { type: "button", class: "icon-button", "aria-label": t("action.close"), onclick: () => close(undefined) }, "×")),
      build(close),
    );
    // The modal makes the page behind it inert; Tab and Shift+Tab also wrap around inside it
    // instead of leaving for the browser's own controls.
    d.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const stops = [...d.querySelectorAll("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])")]
        .filter((el) => !el.disabled && el.offsetParent !== null);
      if (!stops.length) return;
      const first = stops[0];
      const last = stops[stops.length - 1];
      if (e.shiftKey && (document.activeElement === first || document.activeElement === d)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    });
    document.body.append(d);
    d.showModal();
    const first = d.querySelector("[autofocus], input, select, textarea, button:not(.icon-button)");
    (first || d).focus();
  });
}

/// Asks yes or no; resolves true for yes.
export function confirmDialog(title, text, yes) {
  return dialog(title, (close) =>
    h("div", {},
      h("p", {}, text),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", onclick: () => close(true) }, yes),
        h("button", { type: "button", onclick: () => close(false) }, t("action.keep")))),
  ).then((v) => v === true);
}

/// A toast in the live region; `action` = {label, run} adds a button. Stays until dismissed when it
/// has an action, else 8 s.
export function toast(text, { action, kind = "info" } = {}) {
  const region = document.getElementById("toasts");
  const box = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" });
  const dismiss = () => box.remove();
  fill(
    box,
    h("p", {}, text),
    h("div", { class: "toast-actions" },
      action ? h("button", { type: "button", class: "primary", onclick: async () => { dismiss(); await action.run(); } }, action.label) : null,
      h("button", { type: "button", "aria-label": t("action.dismiss"), onclick: dismiss }, t("action.dismiss"))),
  );
  region.append(box);
  while (region.children.length > 4) region.firstElementChild.remove();
  if (!action) setTimeout(dismiss, 8000);
  return box;
}

/// A table from rows: columns = [{title, cell: row => node|text}].
export function table(caption, columns, rows) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", {}, c.cell(r))))))));
}

/// Runs `fn` whenever the page's data may have changed (a notification, a reconnected stream) and,
/// with `everyMs`, on a timer; returns the cleanup that stops both.
export function whenDataChanges(fn, everyMs) {
  const timer = everyMs ? setInterval(fn, everyMs) : null;
  window.addEventListener("dlsms:changed", fn);
  window.addEventListener("dlsms:notification", fn);
  return () => {
    if (timer) clearInterval(timer);
    window.removeEventListener("dlsms:changed", fn);
    window.removeEventListener("dlsms:notification", fn);
  };
}

/// Previous / next for a paged list: "{from}–{to} of {total}" between the buttons; `go(offset)`
/// loads another page.
export function pager({ offset, size, count, total, label, go }) {
  if (offset === 0 && count >= total) return null;
  const last = Math.min(offset + count, total);
  return h("nav", { class: "pager", "aria-label": label },
    h("button", { type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - size)) }, t("action.previous")),
    h("span", { "aria-live": "polite" }, t("pager.range", { from: formatNumber(total ? offset + 1 : 0), to: formatNumber(last), total: formatNumber(total) })),
    h("button", { type: "button", disabled: last >= total, onclick: () => go(offset + size) }, t("action.next")));
}

/// A form that sends a chosen CSV file as text: `send(text)` posts it and answers the words of
/// success (the server checks every line and names each wrong one); `after()` runs on success.
export function csvUploadForm({ label, hint, name, maxBytes, message, send, after }) {
  const file = h("input", { type: "file", accept: ".csv,text/csv", name });
  const form = h("form", { class: "row end", novalidate: true },
    field(label, file, hint),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("staff.import"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return say(message, t("staff.import_choose"), "error");
    if (chosen.size > maxBytes) return say(message, t("error.payload_too_large"), "error");
    say(message, t("status.working"));
    try {
      say(message, await send(await chosen.text()), "ok");
      await after();
    } catch (err) {
      say(message, err.describe ? err.describe() : String(err), "error");
    }
  });
  return form;
}
