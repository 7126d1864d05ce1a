// One event: what failed, why and what to check, where and by whom it was seen, its counts,
// its expiry and its triage with the history; and the writers' actions on it: triage with a
// note, and delete every event of its image (after a confirmation).
import { act, add, api, ApiError, catalog, el, eventsLink, n, shown, table, when } from "./api.js";

const path = (id) => `/v1/administration/events/${encodeURIComponent(id)}`;

function list(caption, values) {
  return el("div", { class: "recent" }, el("h3", {}, caption),
    values && values.length ? el("ul", {}, values.map((v) => el("li", {}, v))) : el("p", { class: "note" }, "none recorded"));
}

function counts(caption, map) {
  return table(caption, ["", "Failures"], Object.entries(map || {}).map(([k, v]) => [k, n(v)]), { class: "small" });
}

/** The triage form of `e`. `draft` ({ state, note, message }): what this form held when its save
 * was refused for a triage made since, kept over the event read again, with the refusal shown. */
function triageForm(e, c, rerender, draft) {
  const status = draft
    ? el("p", { class: "status", role: "alert", id: "triage-status" }, shown(draft.message))
    : el("p", { class: "status", role: "status", id: "triage-status" });
  const loadedNote = e.scanFailure.triage?.note || "";
  const loadedState = e.scanFailure.triage?.state || "open";
  const state = draft?.state || loadedState;
  const form = el("form", { id: "triage", "aria-label": "Triage" },
    el("h3", {}, "Triage"),
    el("div", { class: "field" }, el("label", { for: "triage-state" }, "State"),
      el("select", { id: "triage-state", name: "state" }, c.triageStates.map((t) => el("option", { value: t, selected: t === state }, t.replace("_", " "))))),
    // The current note, sent again unless edited: a triage without one clears it (the API's
    // contract), and a change of state alone must not.
    el("div", { class: "field wide" }, el("label", { for: "triage-note" }, `Note (why; at most ${c.noteMaxBytes} bytes)`),
      el("textarea", { id: "triage-note", name: "note", maxlength: String(c.noteMaxBytes), rows: "2" }, draft?.note ?? loadedNote)),
    el("button", { type: "submit" }, "Save triage"),
    status);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const save = form.querySelector("button[type=submit]");
    act(status, "Saving…", async () => {
      const body = { state: form.elements.state.value };
      const note = form.elements.note.value.trim();
      // The bound is in bytes of UTF-8 (the textarea's maxlength counts characters): said here
      // rather than sent for a 400.
      const bytes = new TextEncoder().encode(note).length;
      if (bytes > c.noteMaxBytes) {
        throw new ApiError(400, `The note is ${n(bytes)} bytes of UTF-8; at most ${n(c.noteMaxBytes)}. Shorten it.`);
      }
      if (note) body.note = note;
      // The version this page read: a triage made elsewhere since (another administrator, a
      // reopen) is answered 409, naming it, rather than overwritten with this form's note.
      const version = e.scanFailure.triage?.version;
      if (Number.isInteger(version)) body.ifVersion = version;
      let answer;
      try {
        answer = await api("POST", `${path(e.id)}/triage`, null, body);
      } catch (err) {
        if (err.status !== 409) throw err;
        // Read again, so that the other triage (its state, note and history) is in view and a
        // second save is made against it, deliberately. Only what was changed here is kept: an
        // unchanged state or note would put back what the other triage replaced. (A textarea's
        // value has its line breaks as LF: a stored CR LF is no change.)
        const lf = (s) => s.replace(/\r\n?/g, "\n");
        const kept = {
          state: body.state !== loadedState ? body.state : undefined,
          note: lf(form.elements.note.value) !== lf(loadedNote) ? form.elements.note.value : undefined,
        };
        let fresh;
        try {
          fresh = await api("GET", path(e.id));
        } catch (again) {
          throw new ApiError(again.status, `${err.message}. Reading it again failed: ${again.message} Reload the page.`);
        }
        const what = [kept.state !== undefined && "state", kept.note !== undefined && "note"].filter(Boolean);
        const tail = what.length
          ? `, with your ${what.join(" and ")} kept: save again to apply ${what.length > 1 ? "them" : "it"}.`
          : ".";
        rerender(fresh.event, null, { ...kept, message: `${err.message}. The page has read it again and shows it as it is now${tail}` });
        return;
      }
      rerender(answer.event, "Triage saved.");
    }, save);
  });
  return form;
}

// Rounds of one cleanup at most, as `scanfail events delete` (each round within the API's read
// bound, 1,000 groups at most).
const MAX_DELETE_ROUNDS = 1000;

const events = (k) => `${n(k)} event${k === 1 ? "" : "s"}`;

/** Deletes every event matching `params` in rounds, each from the cursor the one before answered;
 * the totals, or an ApiError that also says what the rounds before it deleted. */
async function deleteEvery(params) {
  const done = { deleted: 0, kept: 0, more: true };
  let cursor = null;
  for (let round = 0; round < MAX_DELETE_ROUNDS && done.more; round++) {
    const query = new URLSearchParams(params);
    if (cursor) query.set("pagination.cursor", cursor);
    let answer;
    try {
      answer = await api("DELETE", "/v1/administration/events", query);
    } catch (err) {
      if (done.deleted === 0 && done.kept === 0) throw err;
      throw new ApiError(err.status, `Deleted ${events(done.deleted)} (and kept ${n(done.kept)}) before this failure: ${err.message} Delete again to go on.`);
    }
    done.deleted += answer.deleted || 0;
    done.kept += answer.kept || 0;
    cursor = answer.nextCursor;
    done.more = Boolean(cursor);
  }
  return done;
}

function deleteImage(e) {
  const status = el("p", { class: "status", role: "status", id: "delete-status" });
  const image = e.resource.name;
  const confirmBox = el("div", { class: "confirm", hidden: true, id: "delete-confirm" },
    el("p", {}, `Delete every event of ${image}, whatever its reason and triage? This cannot be undone; the image's next failure records it again.`),
    el("button", { type: "button", class: "danger", id: "delete-yes", onclick: (ev) => act(status, "Deleting…", async () => {
      const done = await deleteEvery({ "filter.resourceName": image });
      confirmBox.hidden = true;
      const kept = done.kept ? ` Kept ${events(done.kept)} that a failure reached during the deletion: delete again to remove them.` : "";
      const more = done.more ? ` Stopped after ${n(MAX_DELETE_ROUNDS)} requests: delete again to go on.` : "";
      status.replaceChildren(shown(`Deleted ${events(done.deleted)} of ${image}.${kept}${more} `),
        eventsLink("Back to the events", {}));
    }, ev.currentTarget) }, "Yes, delete them"),
    el("button", { type: "button", class: "secondary", onclick: () => { confirmBox.hidden = true; } }, "Cancel"));
  return el("section", { "aria-labelledby": "delete-h" },
    el("h3", { id: "delete-h" }, "Delete this image's events"),
    el("button", { type: "button", class: "secondary", id: "delete-ask", onclick: () => { confirmBox.hidden = false; document.getElementById("delete-yes").focus(); } },
      "Delete the events of this image…"),
    confirmBox, status);
}

function view(e, c, done, draft) {
  const f = e.scanFailure;
  const r = c.reason[f.reason] || { title: f.reason, hint: e.hint };
  const t = f.triage || { state: "open" };
  const container = el("div", { class: "event", "data-id": e.id });
  const rerender = (next, message, nextDraft) => {
    container.replaceWith(view(next, c, message, nextDraft));
  };
  return add(container,
    el("p", {}, el("a", { href: "#/events" }, "← Events")),
    el("h2", {}, e.resource.name),
    done ? el("p", { class: "done", role: "status" }, done) : null,
    el("p", { class: "reason" }, el("strong", {}, r.title), ` (${f.reason}, ${e.level.replace("ADMINISTRATION_EVENT_LEVEL_", "")})`),
    el("h3", {}, "Message of the latest failure"),
    el("pre", { id: "message" }, e.message),
    el("h3", {}, "What to check"),
    el("p", { id: "hint" }, e.hint || r.hint),
    el("dl", { class: "facts" },
      [["Failures", n(e.numOccurrences)], ["First failed", when(e.createdAt)], ["Last failed", when(e.lastOccurredAt)],
        ["Expires", when(f.expiresAt)], ["Repository", f.repository ? eventsLink(f.repository, { "filter.repository": f.repository }) : ""],
        ["Registry", f.registry], ["Account", f.account], ["Region", f.region], ["Source", f.source], ["Digest", e.resource.id || "none"],
        ["Triage", `${t.state.replace("_", " ")}${t.triagedBy ? ` by ${t.triagedBy} at ${when(t.triagedAt)}` : ""}`], ["Note", t.note || ""]]
        .map(([k, v]) => [el("dt", {}, k), el("dd", {}, v || "")])),
    el("div", { class: "columns" }, counts("Failures by operation", f.operationCounts), counts("Failures by origin", f.originCounts)),
    el("div", { class: "columns" }, list("Clusters", f.clusters), list("Deployments", f.deployments), list("Initiators", f.initiators), list("User agents", f.userAgents)),
    table("Triage history, newest first", ["State", "When", "By", "Note"],
      (t.history || []).map((h) => [h.state.replace("_", " "), when(h.at), h.by, h.note || ""]), { id: "history" }),
    t.history?.length ? null : el("p", { class: "note" }, "Never triaged."),
    triageForm(e, c, rerender, draft),
    deleteImage(e));
}

export async function render({ arg }) {
  const [answer, c] = await Promise.all([api("GET", path(arg)), catalog()]);
  return view(answer.event, c, null);
}
