// My data: what DL-SMS keeps about the caller, counted from `GET /me/export`, that export as a
// file, the email settings (`GET/PUT me/preferences`, `POST/DELETE me/email`), and erasing the
// account (`DELETE /me`, after the student ID typed again) (docs/privacy.md).
import { api, download, session } from "./api.js";
import { h, fill, field, check, messageArea, say, dialog } from "./dom.js";
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
    emailSection(),
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

/// The kinds of email, in the order they are offered (the server may know more: those follow,
/// under their own names).
const EMAIL_KINDS = ["confirmed", "reminder", "check_in", "no_show", "offer", "cancelled", "strike", "suspended"];

/// *Email*: the address emails go to and where it comes from (confirmed by the student, from the
/// campus account, or none); a new address (`POST me/email`: a confirmation link goes to it, and it
/// is used only once followed); removing the student's own address (`DELETE me/email`: back to the
/// campus account's, if any); which emails are sent and how long before the start the reminder is
/// (`PUT me/preferences`). A server without mail refuses a new address (403 `mail_off`): the form
/// goes, and the choices are still kept for when it has mail.
function emailSection() {
  const status = messageArea();
  const facts = h("div", {}, h("p", { class: "loading" }, t("status.loading")));
  const heading = h("h2", { id: "email-heading", tabindex: -1 }, t("email.title"));
  const section = h("section", { class: "card email", "aria-labelledby": "email-heading" },
    heading,
    h("p", { class: "aside" }, t("email.intro")),
    facts, status);
  let preferences = null;

  // The address and where it comes from, and the button to remove one's own.
  let removing = false;
  const remove = h("button", { type: "button", class: "remove-email" }, t("email.remove"));
  remove.addEventListener("click", async () => {
    if (removing) return;
    removing = true;
    remove.setAttribute("aria-busy", "true");
    say(status, t("status.working"));
    try {
      await api("DELETE", "me/email");
      show(await api("GET", "me/preferences"));
      say(status, t(preferences.email_source === "identity" ? "email.removed_campus" : "email.removed"), "ok");
      // The button is gone: focus goes on to the new address (or the section, without one).
      (addressForm.hidden ? heading : address).focus();
    } catch (err) {
      say(status, err.describe ? err.describe() : t("error.unknown"), "error");
    } finally {
      removing = false;
      remove.removeAttribute("aria-busy");
    }
  });
  const show = (p) => {
    preferences = p;
    const source = ["confirmed", "identity"].includes(p.email_source) ? p.email_source : "none";
    fill(facts,
      h("dl", { class: "facts" },
        h("dt", {}, t("email.address")), h("dd", { dataset: { field: "email" } }, p.email || t("email.no_address")),
        h("dt", {}, t("email.from")), h("dd", { dataset: { field: "email_source", source } }, t(`email.source_${source}`))),
      source === "confirmed" ? h("div", { class: "actions" }, remove) : null);
  };

  // A new address: a confirmation link goes to it.
  const address = h("input", { type: "email", name: "email", autocomplete: "email", spellcheck: "false", required: true });
  const sent = messageArea();
  const addressForm = h("form", { class: "email-address", novalidate: true },
    field(t("email.new_address"), address, t("email.new_address_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("email.send_link"))),
    sent);
  let sending = false;
  addressForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (sending) return;
    const wanted = address.value.trim();
    if (!wanted) {
      address.focus();
      return say(sent, t("email.need_address"), "error");
    }
    sending = true;
    say(sent, t("status.working"));
    try {
      const answer = await api("POST", "me/email", { address: wanted });
      say(sent, t("email.sent", { address: answer?.pending || wanted }), "ok");
      address.value = "";
    } catch (err) {
      if (err.code === "mail_off") {
        // Nothing to send with: the form goes, the words stay (outside it, in the section's status).
        addressForm.hidden = true;
        say(status, t("email.off"), "error");
        heading.focus();
      } else {
        say(sent, err.describe ? err.describe() : t("error.unknown"), "error");
        if (err.status === 400) address.focus();
      }
    } finally {
      sending = false;
    }
  });

  // Which emails, and the reminder's minutes.
  const boxes = new Map();
  const kindsSet = h("fieldset", { class: "email-kinds" }, h("legend", {}, t("email.kinds")));
  const minutes = h("input", { type: "number", name: "reminder_minutes", min: 0, max: 1440, step: 1, inputmode: "numeric" });
  const saved = messageArea();
  const kindsForm = h("form", { class: "email-choices", novalidate: true },
    kindsSet,
    field(t("email.reminder_minutes"), minutes, t("email.reminder_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("email.save"))),
    saved);
  const showChoices = (p) => {
    const kinds = p.email_kinds || {};
    const names = [...EMAIL_KINDS.filter((k) => k in kinds), ...Object.keys(kinds).filter((k) => !EMAIL_KINDS.includes(k))];
    boxes.clear();
    fill(kindsSet, h("legend", {}, t("email.kinds")), names.map((k) => {
      const box = h("input", { name: `email-kind-${k}`, value: k, checked: kinds[k] !== false });
      boxes.set(k, box);
      return check(has(`email_kind.${k}`) ? t(`email_kind.${k}`) : k.replace(/_/g, " "), box);
    }));
    minutes.value = String(p.reminder_minutes ?? 0);
  };
  let saving = false;
  kindsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (saving) return;
    const text = minutes.value.trim();
    if (!/^\d+$/.test(text)) {
      minutes.focus();
      return say(saved, t("email.reminder_whole"), "error");
    }
    saving = true;
    say(saved, t("status.working"));
    try {
      const answer = await api("PUT", "me/preferences", {
        email_kinds: Object.fromEntries([...boxes].map(([k, box]) => [k, box.checked])),
        reminder_minutes: Number(text),
      });
      show(answer);
      showChoices(answer);
      say(saved, t("email.saved"), "ok");
    } catch (err) {
      say(saved, err.describe ? err.describe() : t("error.unknown"), "error");
      if (err.status === 400) minutes.focus();
    } finally {
      saving = false;
    }
  });

  api("GET", "me/preferences").then((p) => {
    show(p);
    showChoices(p);
    section.append(addressForm, kindsForm);
  }).catch((err) => {
    fill(facts);
    say(status, err.describe ? err.describe() : t("error.unknown"), "error");
  });
  return section;
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
