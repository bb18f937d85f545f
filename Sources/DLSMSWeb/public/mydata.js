// My data: what DL-SMS keeps about the caller, counted from `GET /me/export`, that export as a
// file, and erasing the account (`DELETE /me`, after the student ID typed again) (docs/privacy.md).
import { api, download, session } from "./api.js";
import { h, fill, field, messageArea, say, dialog } from "./dom.js";
import { t, has, formatNumber } from "./i18n.js";

/// My data: what is kept (docs/privacy.md, in short), the caller's account and how many of each
/// kind of record the export holds, and *Download my data*: the export (`GET me/export`, with the
/// token) saved as `dlsms-export-<account id>.json`, the name the server gives it.
export async function render(root) {
  const message = messageArea();
  const body = h("div", {}, h("p", { class: "loading" }, t("status.loading")));
  const saved = messageArea();
  let busy = false;
  const button = h("button", { type: "button", class: "primary" }, t("my_data.download_action"));
  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    button.setAttribute("aria-busy", "true");
    say(saved, t("status.working"));
    const name = `dlsms-export-${session.user?.id ?? "me"}.json`;
    try {
      await download("me/export", name);
      say(saved, t("my_data.saved", { name }), "ok");
    } catch (err) {
      say(saved, err.describe ? err.describe() : t("error.unknown"), "error");
    } finally {
      busy = false;
      button.removeAttribute("aria-busy");
    }
  });
  fill(root,
    h("h1", {}, t("page.my_data")),
    h("p", { class: "aside" }, t("my_data.intro"), " ", h("a", { href: "privacy", class: "privacy-link" }, t("privacy.link_read"))),
    h("section", { class: "card", "aria-labelledby": "kept-heading" },
      h("h2", { id: "kept-heading" }, t("my_data.kept")),
      h("ul", { class: "kept" },
        [t("my_data.kept_account"), t("my_data.kept_reservations"), t("my_data.kept_notifications"), t("my_data.kept_strikes"), t("my_data.kept_audit")]
          .map((text) => h("li", {}, text)))),
    message,
    body,
    h("section", { class: "card", "aria-labelledby": "download-heading" },
      h("h2", { id: "download-heading" }, t("my_data.download")),
      h("p", {}, t("my_data.download_text")),
      h("div", { class: "actions" }, button),
      saved),
    eraseSection());

  let data;
  try {
    data = await api("GET", "me/export");
  } catch (err) {
    fill(body);
    say(message, err.describe ? err.describe() : t("error.unknown"), "error");
    return;
  }
  const account = data.account || {};
  const count = (v) => formatNumber(Array.isArray(v) ? v.length : 0);
  const source = has(`source.${account.source}`) ? t(`source.${account.source}`) : account.source ?? "?";
  fill(body,
    h("section", { class: "card", "aria-labelledby": "yours-heading" },
      h("h2", { id: "yours-heading" }, t("my_data.yours")),
      h("dl", { class: "facts my-data" },
        h("dt", {}, t("field.student_id")), h("dd", { dataset: { field: "student_id" } }, account.student_id ?? "?"),
        h("dt", {}, t("my_data.name")), h("dd", { dataset: { field: "name" } }, account.name || "–"),
        h("dt", {}, t("my_data.source")), h("dd", { dataset: { field: "source" } }, source),
        [
          ["reservations", t("my_data.reservations"), data.reservations],
          ["archived", t("my_data.archived"), data.archived_reservations],
          ["waitlist", t("my_data.waitlist"), data.waitlist],
          ["notifications", t("my_data.notifications"), data.notifications],
          ["strikes", t("my_data.strikes"), data.strikes?.strikes],
        ].map(([k, label, v]) => [h("dt", {}, label), h("dd", { dataset: { field: k } }, count(v))]))));
}

/// *Erase my account*: what goes at once, what stays without the student's name, that it cannot be
/// undone; the button asks first (the student ID typed again). Staff accounts are erased by
/// another administrator (the server answers 409), so staff see only that.
function eraseSection() {
  const message = messageArea();
  const parts = [
    h("h2", { id: "erase-heading" }, t("my_data.erase")),
    h("p", {}, t("my_data.erase_now")),
    h("p", {}, t("my_data.erase_kept")),
  ];
  if (session.isAdmin) {
    return h("section", { class: "card erase", "aria-labelledby": "erase-heading" }, parts, h("p", { class: "aside" }, t("my_data.erase_staff")));
  }
  const button = h("button", { type: "button", class: "danger erase-account" }, t("my_data.erase_action"));
  button.addEventListener("click", () => confirmErase(message));
  return h("section", { class: "card erase", "aria-labelledby": "erase-heading" }, parts,
    h("p", { class: "warning" }, t("my_data.erase_final")),
    h("div", { class: "actions" }, button),
    message);
}

/// The question: the student ID typed again, then `DELETE me`; once erased, this browser signs out
/// and the sign-in page says so.
async function confirmErase(message) {
  const studentID = session.user?.student_id ?? "";
  const erased = await dialog(t("my_data.erase_title"), (close) => {
    const typed = h("input", { name: "erase-confirm", required: true, autocomplete: "off", spellcheck: "false" });
    const inner = messageArea();
    const form = h("form", { novalidate: true, class: "erase-form" },
      h("p", {}, t("my_data.erase_question", { id: studentID })),
      field(t("erase.type_id", { id: studentID }), typed),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary danger" }, t("my_data.erase_do")),
        h("button", { type: "button", onclick: () => close(false) }, t("my_data.erase_keep"))),
      inner);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (typed.value.trim() !== studentID) {
        typed.focus();
        return say(inner, t("erase.type_mismatch", { id: studentID }), "error");
      }
      say(inner, t("status.working"));
      try {
        await api("DELETE", "me", { confirm: true });
        close(true);
      } catch (err) {
        const text = err.code === "invalid_state" && err.status === 409 ? t("my_data.erase_staff")
          : err.describe ? err.describe() : t("error.unknown");
        say(inner, text, "error");
      }
    });
    return form;
  });
  if (!erased) return say(message, "");
  // Signed out here and in every tab of this browser; the sign-in page says what happened.
  session.clear();
  window.dispatchEvent(new CustomEvent("dlsms:signed-out", { detail: { erased: true } }));
}
