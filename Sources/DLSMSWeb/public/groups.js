// The staff pages of groups and strikes: every group with its policy and staff-given member count;
// a group's policy in a form (every rule optional: "most generous wins" explained); memberships
// imported from a CSV of student_id,group lines; a student's staff-given groups; a student's
// strikes and suspension, with a strike removed or a suspension lifted for a reason, and the
// account erased (for a reason, after typing its student ID).
import { api, query, seg, session } from "./api.js";
import { h, fill, field, check, messageArea, say, dialog, confirmDialog, table, csvUploadForm } from "./dom.js";
import { t, has } from "./i18n.js";
import { strikeTable, suspensionPart } from "./rules.js";

const errorText = (err) => (err.describe ? err.describe() : String(err));

/// The numeric rules of a policy, with their ranges (docs/rules-per-group.md).
const NUMBERS = {
  limits: [
    ["max_upcoming", 1, 1000], ["max_hours_per_day", 1, 24], ["max_hours_per_week", 1, 168],
    ["max_duration_minutes", 15, 1440], ["max_days_ahead", 1, 365], ["grace_minutes", 1, 240], ["max_waitlist", 1, 1000],
    ["away_minutes", 5, 240], ["away_times", 0, 20],
  ],
  strikes: [["strike_threshold", 1, 100], ["strike_window_days", 1, 365], ["suspension_days", 1, 365], ["late_cancel_minutes", 0, 1440],
    ["away_strike", 0, 1]],
};
const FEATURES = ["power", "monitor"];
const GROUP_NAME = /^(?! )[A-Za-z0-9\-_.:=, ]{1,64}(?<! )$/;

/// A policy in one line: "upcoming reservations 5; places Main Library/Research Area".
function summary(policy) {
  if (!policy) return t("groups.no_policy");
  const parts = [];
  if (policy.exempt) parts.push(t("policy.exempt"));
  for (const [key] of [...NUMBERS.limits, ...NUMBERS.strikes]) {
    if (policy[key] !== undefined && policy[key] !== null) parts.push(`${t(has(`policy.short.${key}`) ? `policy.short.${key}` : `policy.${key}`)} ${policy[key]}`);
  }
  if (policy.places?.length) parts.push(`${t("policy.places")}: ${policy.places.join(", ")}`);
  if (policy.features?.length) parts.push(`${t("policy.features")}: ${policy.features.map((f) => t(`feature.${f}`)).join(", ")}`);
  return parts.length ? parts.join("; ") : t("groups.no_policy");
}

/// A student by student ID or user number: `GET /admin/users/{n}` for a number, else the account
/// list (`?student_id=` where the server filters it; else paged through).
export async function findStudent(text) {
  const wanted = text.trim();
  if (!wanted) return null;
  if (/^\d+$/.test(wanted)) {
    try {
      return await api("GET", `admin/users/${wanted}`);
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }
  const size = 500;
  for (let offset = 0; offset < 100000; offset += size) {
    const page = await api("GET", `admin/users${query({ student_id: wanted, limit: size, offset })}`);
    const hit = page.users.find((u) => u.student_id === wanted);
    if (hit) return hit;
    if (offset + page.count >= page.total || page.count === 0) return null;
  }
  return null;
}

/// "Student ID or user number" and Look up; `found(user)` draws what follows.
function lookupForm(message, found, idPrefix) {
  const input = h("input", { name: `${idPrefix}-student`, autocomplete: "off", required: true });
  const form = h("form", { class: "row end", novalidate: true },
    field(t("groups.student_id"), input),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("groups.lookup"))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(message, t("status.working"));
    try {
      const user = await findStudent(input.value);
      if (!user) return say(message, t("groups.not_found"), "error");
      say(message, "");
      await found(user);
    } catch (err) {
      say(message, errorText(err), "error");
    }
  });
  return form;
}

// ---- groups

export async function groups(root) {
  const message = messageArea();
  const listEl = h("div", {});
  const heading = h("h2", { id: "groups-heading", tabindex: "-1" }, t("groups.policies"));

  async function load() {
    const all = (await api("GET", "admin/groups")).groups || [];
    const nameOf = (g) => g.group ?? g.name;
    fill(listEl, all.length ? table(t("groups.caption"), [
      { title: t("groups.column_group"), cell: (g) => h("span", { class: "group-name" }, nameOf(g)) },
      { title: t("groups.column_policy"), cell: (g) => summary(g.policy) },
      { title: t("groups.column_members"), cell: (g) => String(g.members ?? g.member_count ?? g.staff_members ?? 0) },
      {
        title: t("column.actions"),
        cell: (g) => h("div", { class: "actions" },
          h("button", { type: "button", onclick: () => editPolicy(nameOf(g), g.policy) }, t("groups.edit"), h("span", { class: "visually-hidden" }, ` ${nameOf(g)}`)),
          g.policy ? h("button", { type: "button", class: "danger", onclick: () => deletePolicy(nameOf(g)) }, t("groups.delete"), h("span", { class: "visually-hidden" }, ` ${nameOf(g)}`)) : null),
      },
    ], all) : h("p", { class: "empty" }, t("groups.none")));
  }

  async function editPolicy(name, policy) {
    const saved = await dialog(name ? t("groups.edit_title", { group: name }) : t("groups.new"), (close) => policyForm(name, policy || {}, close), { wide: true });
    if (saved) {
      say(message, t("groups.saved", { group: saved }), "ok");
      await load();
    }
  }

  async function deletePolicy(name) {
    if (!(await confirmDialog(t("groups.delete_title"), t("groups.delete_text", { group: name }), t("groups.delete")))) return;
    try {
      await api("DELETE", `admin/groups/${seg(name)}/policy`);
      say(message, t("groups.deleted", { group: name }), "ok");
    } catch (err) {
      say(message, errorText(err), "error");
    }
    await load();
    heading.focus();
  }

  fill(root,
    h("section", { class: "card", "aria-labelledby": "groups-heading" },
      heading,
      h("p", { class: "aside" }, t("groups.intro")),
      h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => editPolicy(null, null) }, t("groups.new"))),
      message, listEl),
    importCard(load),
    studentGroupsCard(load));
  await load();
}

/// The policy form: every rule optional, with its range; `close(name)` once saved.
function policyForm(name, policy, close) {
  const inner = messageArea();
  const groupName = h("input", { name: "group", value: name ?? "", maxlength: 64, required: true, readonly: name !== null, autocomplete: "off" });
  const exempt = h("input", { name: "exempt", checked: policy.exempt === true, autofocus: name !== null });
  const numbers = new Map();
  const numberField = ([key, min, max]) => {
    const input = h("input", { type: "number", name: key, min, max, step: 1, inputmode: "numeric", value: policy[key] ?? "" });
    numbers.set(key, { input, min, max });
    return field(t(`policy.${key}`), input, t("groups.range", { min, max }));
  };
  const places = h("textarea", { name: "places", rows: 3, class: "wide" }, (policy.places || []).join("\n"));
  const features = new Map(FEATURES.map((f) => [f, h("input", { name: `feature-${f}`, checked: (policy.features || []).includes(f) })]));
  const form = h("form", { class: "policy-form", novalidate: true },
    h("p", { class: "aside" }, t("groups.form_intro")),
    field(t("groups.name"), groupName, t("groups.name_hint")),
    check(t("groups.exempt"), exempt),
    h("fieldset", {}, h("legend", {}, t("groups.limits")), h("div", { class: "row" }, NUMBERS.limits.map(numberField))),
    h("fieldset", {}, h("legend", {}, t("groups.access")),
      field(t("groups.places"), places, t("groups.places_hint")),
      h("fieldset", { class: "row filters" }, h("legend", {}, t("groups.features")), FEATURES.map((f) => check(t(`feature.${f}`), features.get(f))))),
    h("fieldset", {}, h("legend", {}, t("groups.strikes")), h("div", { class: "row" }, NUMBERS.strikes.map(numberField))),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, t("action.save")),
      h("button", { type: "button", onclick: () => close() }, t("action.close"))),
    inner);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const group = groupName.value.trim();
    if (!group || !GROUP_NAME.test(group)) {
      groupName.focus();
      return say(inner, group ? `${t("groups.name_hint")}` : t("groups.name_needed"), "error");
    }
    const body = {};
    if (exempt.checked) body.exempt = true;
    for (const [key, { input, min, max }] of numbers) {
      if (input.value.trim() === "") continue;
      const n = Number(input.value);
      if (!Number.isInteger(n) || n < min || n > max) {
        input.focus();
        return say(inner, t("groups.bad_number", { field: t(`policy.${key}`), min, max }), "error");
      }
      body[key] = n;
    }
    const placeList = places.value.split("\n").map((p) => p.trim()).filter(Boolean);
    if (placeList.length) body.places = placeList;
    const featureList = FEATURES.filter((f) => features.get(f).checked);
    if (featureList.length) body.features = featureList;
    say(inner, t("status.working"));
    try {
      await api("PUT", `admin/groups/${seg(group)}/policy`, body);
      close(group);
    } catch (err) {
      say(inner, errorText(err), "error");
    }
  });
  return form;
}

/// Memberships from a CSV file of student_id,group lines (all or none).
function importCard(done) {
  const message = messageArea();
  const form = csvUploadForm({
    label: t("groups.import_file"), hint: t("groups.import_hint"), name: "groups-csv", maxBytes: 4 * 1024 * 1024,
    message, after: done,
    send: async (text) => {
      const r = await api("POST", "admin/groups/import", undefined, { text, type: "text/csv" });
      return t("groups.imported", { n: r.added ?? 0 });
    },
  });
  return h("section", { class: "card", "aria-labelledby": "import-heading" },
    h("h2", { id: "import-heading" }, t("groups.import")), form, message);
}

/// A student's groups: those of their sign-in (read only) and those staff give (edited here).
function studentGroupsCard(done) {
  const message = messageArea();
  const area = h("div", {});
  const show = async (user) => {
    const g = await api("GET", `admin/users/${user.id}/groups`);
    const given = g.assigned ?? g.staff_groups ?? [];
    const identity = g.identity ?? g.identity_groups ?? [];
    const input = h("input", { name: "staff-groups", class: "wide", value: given.join(", "), autocomplete: "off" });
    const inner = messageArea();
    const rules = g.rules || g.effective || null;
    const form = h("form", { novalidate: true },
      h("h3", {}, `${user.student_id}${user.name && user.name !== user.student_id ? ` (${user.name})` : ""}`),
      h("p", {}, t("groups.identity", { groups: identity.length ? identity.join(", ") : t("rules.none") })),
      field(t("groups.given"), input, t("groups.given_hint")),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("groups.save_groups"))),
      rules ? h("p", { class: "aside effective" }, t("groups.effective", { rules: summary({ ...rules, max_upcoming: rules.max_upcoming_per_student }) })) : null,
      inner);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const list = [...new Set(input.value.split(",").map((x) => x.trim()).filter(Boolean))];
      const bad = list.find((x) => !GROUP_NAME.test(x));
      if (bad) return say(inner, `${bad}: ${t("groups.name_hint")}`, "error");
      say(inner, t("status.working"));
      try {
        await api("PUT", `admin/users/${user.id}/groups`, { groups: list });
        say(inner, t("groups.groups_saved", { student: user.student_id }), "ok");
        await done();
      } catch (err) {
        say(inner, errorText(err), "error");
      }
    });
    fill(area, form);
  };
  return h("section", { class: "card", "aria-labelledby": "student-groups-heading" },
    h("h2", { id: "student-groups-heading" }, t("groups.student")),
    h("p", { class: "aside" }, t("groups.student_intro")),
    lookupForm(message, show, "groups"), message, area);
}

// ---- strikes

export async function strikes(root) {
  const message = messageArea();
  const area = h("div", {});
  let current = null;
  const show = async (user) => {
    current = user;
    const s = await api("GET", `admin/users/${user.id}/strikes`);
    const inner = messageArea();
    const suspended = s.suspension && !s.suspension.lifted && Date.parse(s.suspension.until) > Date.now();
    const heading = h("h2", { id: "strikes-of", tabindex: "-1" }, `${user.student_id}${user.name && user.name !== user.student_id ? ` (${user.name})` : ""}`);
    const own = user.id === session.user?.id;
    fill(area, h("section", { class: "card", "aria-labelledby": "strikes-of" },
      heading,
      inner,
      h("h3", {}, t("rules.suspension")),
      suspensionPart(s.suspension, user.student_id, s.last_lift),
      suspended ? h("div", { class: "actions" }, h("button", {
        type: "button", class: "danger", onclick: () => withReason(t("strikes.lift_title", { student: user.student_id }), t("strikes.lift_do"),
          (reason) => api("POST", `admin/users/${user.id}/suspension/lift`, { reason }), t("strikes.lifted_done")),
      }, t("strikes.lift"))) : null,
      h("h3", {}, t("rules.strikes")),
      s.strikes?.length ? strikeTable(s.strikes, t("strikes.caption", { student: user.student_id }), (k) => (k.removed ? "" : h("button", {
        type: "button", onclick: () => withReason(t("strikes.remove_title", { id: k.id }), t("strikes.remove_do"),
          (reason) => api("DELETE", `admin/strikes/${k.id}`, { reason }), t("strikes.removed_done", { id: k.id })),
      }, t("strikes.remove"), h("span", { class: "visually-hidden" }, ` ${k.id}`))))
        : h("p", { class: "empty" }, t("strikes.none", { student: user.student_id })),
      h("h3", {}, t("strikes.account")),
      h("dl", { class: "facts account-facts" },
        h("dt", {}, t("strikes.account_number")), h("dd", { dataset: { field: "id" } }, String(user.id)),
        h("dt", {}, t("my_data.source")), h("dd", {}, has(`source.${user.source}`) ? t(`source.${user.source}`) : user.source ?? "?"),
        user.disabled ? [h("dt", {}, t("strikes.account_state")), h("dd", {}, t("strikes.account_disabled"))] : null),
      own ? h("p", { class: "aside" }, t("erase.not_own")) : h("div", { class: "actions" }, h("button", {
        type: "button", class: "danger erase-account", onclick: () => eraseAccount(user),
      }, t("erase.staff_action")))));
    return { heading, inner };
  };

  /// Asks for the reason, runs `act(reason)`, then draws the student again.
  async function withReason(title, label, act, done) {
    const ok = await dialog(title, (close) => {
      const reason = h("input", { name: "reason", maxlength: 200, required: true, autocomplete: "off" });
      const inner = messageArea();
      const form = h("form", { novalidate: true },
        field(t("strikes.reason"), reason),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "primary" }, label),
          h("button", { type: "button", onclick: () => close(false) }, t("action.keep"))),
        inner);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        if (!reason.value.trim()) return say(inner, t("strikes.reason_needed"), "error");
        say(inner, t("status.working"));
        try {
          await act(reason.value.trim());
          close(true);
        } catch (err) {
          say(inner, errorText(err), "error");
        }
      });
      return form;
    });
    if (!ok) return;
    try {
      const { heading, inner } = await show(current);
      say(inner, done, "ok");
      heading.focus();
    } catch (err) {
      say(message, errorText(err), "error");
    }
  }

  /// Erases the account (`DELETE admin/users/{id}`) after a reason and the student ID typed again;
  /// the card then says it is gone.
  async function eraseAccount(user) {
    const erased = await dialog(t("erase.staff_title", { student: user.student_id }), (close) => {
      const reason = h("input", { name: "erase-reason", maxlength: 200, required: true, autocomplete: "off" });
      const typed = h("input", { name: "erase-confirm", required: true, autocomplete: "off", spellcheck: "false" });
      const inner = messageArea();
      const form = h("form", { novalidate: true, class: "erase-form" },
        h("p", {}, t("erase.staff_text", { student: user.student_id })),
        h("p", { class: "warning" }, t("erase.cannot_undo")),
        field(t("strikes.reason"), reason),
        field(t("erase.type_id", { id: user.student_id }), typed),
        h("div", { class: "actions" },
          h("button", { type: "submit", class: "primary danger" }, t("erase.staff_do")),
          h("button", { type: "button", onclick: () => close(false) }, t("erase.keep"))),
        inner);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        if (!reason.value.trim()) {
          reason.focus();
          return say(inner, t("strikes.reason_needed"), "error");
        }
        if (typed.value.trim() !== user.student_id) {
          typed.focus();
          return say(inner, t("erase.type_mismatch", { id: user.student_id }), "error");
        }
        say(inner, t("status.working"));
        try {
          await api("DELETE", `admin/users/${user.id}`, { confirm: true, reason: reason.value.trim() });
          close(true);
        } catch (err) {
          say(inner, errorText(err), "error");
        }
      });
      return form;
    });
    if (!erased) return;
    current = null;
    const heading = h("h2", { id: "strikes-of", tabindex: "-1" }, user.student_id);
    const done = messageArea();
    fill(area, h("section", { class: "card", "aria-labelledby": "strikes-of" }, heading, done));
    say(done, t("erase.staff_done", { student: user.student_id, id: user.id }), "ok");
    heading.focus();
  }

  fill(root, h("section", { class: "card" },
    h("p", { class: "aside" }, t("strikes.intro")),
    lookupForm(message, show, "strikes"), message), area);
}
