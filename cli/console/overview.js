// Overview: the totals, each breakdown of the summary route, the account → registry →
// repository drill-down and the top failing images; every figure links to the events it counts.
import { api, ApiError, catalog, el, eventsLink, n, table } from "./api.js";

/** The rows of a tally map (`{key: {groups, occurrences}}`), most failures first. */
function tallies(map) {
  return Object.entries(map).sort((a, b) => b[1].occurrences - a[1].occurrences || a[0].localeCompare(b[0]));
}

function breakdown(caption, map, filter, label = (k) => k) {
  return table(caption, ["", "Events", "Failures"],
    tallies(map).map(([k, t]) => [eventsLink(label(k), { [filter]: k }), n(t.groups), n(t.occurrences)]),
    { class: "small" });
}

function drillDown(accounts) {
  return el("section", { "aria-labelledby": "drill" },
    el("h2", { id: "drill" }, "By account, registry and repository"),
    accounts.map((a) => el("details", { class: "account" },
      el("summary", {}, `Account ${a.account}: ${n(a.groups)} events, ${n(a.occurrences)} failures`),
      el("p", {}, "Regions: ", a.regions.map((r) => `${r.region} (${n(r.occurrences)})`).join(", ") || "none"),
      a.registries.map((r) => el("details", { class: "registry" },
        el("summary", {}, `${r.registry}: ${n(r.groups)} events, ${n(r.occurrences)} failures`),
        table(`Repositories of ${r.registry} in ${a.account}`, ["Repository", "Events", "Failures"],
          r.repositories.map((p) => [eventsLink(p.repository, { "filter.account": a.account, "filter.repository": p.repository }), n(p.groups), n(p.occurrences)]),
          { class: "small" }))))));
}

const SUMMARY = "/v1/administration/events/summary";

/** The summary with its top images and drill-down: asked again with summary.detail when the
 * rollups answered without them; `null` and the API's message when that read is refused (too
 * broad, 400) or fails (out of time, 503): the rest of the page stands either way. */
async function detailOf(s) {
  if (!s.omitted || !s.omitted.length) return [s, null];
  try {
    return [await api("GET", SUMMARY, new URLSearchParams({ "summary.top": "20", "summary.detail": "true" })), null];
  } catch (e) {
    if (e instanceof ApiError) return [null, e.message];
    throw e;
  }
}

export async function render() {
  const [s, c] = await Promise.all([api("GET", SUMMARY, new URLSearchParams({ "summary.top": "20" })), catalog()]);
  const [d, tooBroad] = await detailOf(s);
  const reasonRows = tallies(s.byReason).map(([code, t]) => {
    const r = c.reason[code] || { title: code, hint: "" };
    return [el("span", {}, eventsLink(r.title, { "filter.reason": code }), el("br"), el("code", {}, code)), r.hint, n(t.groups), n(t.occurrences)];
  });
  return el("div", { class: "overview" },
    el("h2", {}, "Overview"),
    el("p", { id: "totals", class: "totals" },
      el("strong", {}, n(s.totals.groups)), " failure groups, ",
      el("strong", {}, n(s.totals.occurrences)), " failed scans in the retention window (false positives left out)."),
    table("By reason", ["Reason", "What to check", "Events", "Failures"], reasonRows, { id: "by-reason" }),
    el("div", { class: "columns" },
      breakdown("By level", s.byLevel, "filter.level", (k) => k.replace("ADMINISTRATION_EVENT_LEVEL_", "")),
      breakdown("By operation", s.byOperation, "filter.operation"),
      breakdown("By origin", s.byOrigin, "filter.origin")),
    d ? drillDown(d.accounts) : null,
    d ? table("Top failing images", ["Image", "Events", "Failures"],
      d.topImages.map((i) => [eventsLink(i.resourceName, { "filter.resourceName": i.resourceName }), n(i.groups), n(i.occurrences)]),
      { id: "top-images" }) : el("p", { class: "note", id: "top-images" }, `Top images and the account drill-down: ${tooBroad}`),
    (d || s).truncated.length ? el("p", { class: "note" }, `Cut at their caps: ${(d || s).truncated.join(", ")}.`) : null);
}
