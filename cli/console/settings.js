// Settings: the retention in force, where it comes from, the progress of the job that re-stamps
// the stored events' expiry after a change, and the form to change it (writers only).
import { act, api, el, n, when } from "./api.js";

const CONFIG = "/v1/config/administration-events";

function view(cfg, done) {
  const status = el("p", { class: "status", role: "status", id: "retention-status" }, done || "");
  const r = cfg.restamp;
  const form = el("form", { id: "retention", "aria-label": "Retention" },
    el("div", { class: "field" }, el("label", { for: "retention-days" }, "Keep an event this many days after its last failure (1 to 365)"),
      el("input", { id: "retention-days", name: "retentionDays", type: "number", min: "1", max: "365", required: true, value: String(cfg.retentionDays) })),
    el("button", { type: "submit" }, "Change the retention"),
    status);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(status, "Saving…", async () => {
      const next = await api("PUT", CONFIG, null, { retentionDays: Number(form.elements.retentionDays.value) });
      container.replaceWith(view(next, `Retention set to ${next.retentionDays} days.`));
    }, form.querySelector("button[type=submit]"));
  });
  const container = el("div", { class: "settings" },
    el("h2", {}, "Settings"),
    el("dl", { class: "facts", id: "retention-facts" },
      el("dt", {}, "Retention"), el("dd", {}, `${cfg.retentionDays} days`),
      el("dt", {}, "Set"), el("dd", {}, cfg.source === "table" ? `through the API by ${cfg.updatedBy || "?"} at ${when(cfg.updatedAt)}` : "by the deployment's RETENTION_DAYS"),
      r ? [el("dt", {}, "Re-stamp"), el("dd", {}, `${r.finished ? "finished" : "under way"}: ${n(r.examined)} examined, ${n(r.restamped)} changed, to ${r.targetRetentionDays} days`)] : null),
    form);
  return container;
}

export async function render() {
  return view(await api("GET", CONFIG), null);
}
