// Events: the list with every filter of the API, sorted by last occurrence, paged by the API's
// cursor. The filters, the order, the page size and the cursor are all in the URL, so a view
// can be shared and the back button returns to the previous page.
import { api, catalog, el, eventLink, n, when } from "./api.js";

const LIMITS = ["10", "25", "50", "100"];
/** The page sizes offered: the usual ones, and a link's own (the API takes 1 to 1000), so that
 * the control shows the size the page was read with and Apply keeps it. */
const limits = (current) => (LIMITS.includes(current) || !/^[0-9]{1,4}$/.test(current) ? LIMITS
  : [...LIMITS, current].sort((a, b) => Number(a) - Number(b)));
const REVERSED = "pagination.sortOption.reversed";
const CURSOR = "pagination.cursor";
const LIMIT = "pagination.limit";

/** The text filters: parameter, label, placeholder. */
const TEXT = [
  ["filter.resourceName", "Image", "quay.io/acme/web:1.4"],
  ["filter.repository", "Repository", "quay.io/acme/web"],
  ["filter.resourceId", "Digest", "sha256:…"],
  ["filter.cluster", "Cluster", "prod-eu"],
  ["filter.account", "Account", "123456789012"],
  ["filter.region", "Region", "eu-west-1"],
  ["filter.search", "Search", "deadline exceeded"],
];

/** The parameters the list route takes from the URL, and nothing else. */
const KNOWN = new Set([...TEXT.map(([p]) => p), "filter.reason", "filter.level", "filter.operation", "filter.origin", "filter.triage", "filter.from", "filter.until", REVERSED, CURSOR, LIMIT]);

function field(id, label, control) {
  return el("div", { class: "field" }, el("label", { for: id }, label), control);
}

/** A closed set's filter, showing every value the URL gives (`current`, in order): a value the
 * catalog does not name is an option of its own, as given, and several values (the API takes
 * up to 20 of a filter, any of them matching) make the list a multiple choice. Apply keeps
 * whatever is selected; nothing is dropped because the form could not show it. */
function choice(name, label, options, current, any = "Any") {
  const id = `f-${name.replace(/\W/g, "-")}`;
  const known = new Set(options.map(([value]) => value));
  const extra = current.filter((v) => !known.has(v)).map((v) => [v, v]);
  const multiple = current.length > 1;
  return field(id, label, el("select", { id, name, multiple },
    multiple ? null : el("option", { value: "" }, any),
    [...options, ...extra].map(([value, text]) => el("option", { value, selected: current.includes(value) }, text))));
}

/** A text filter: one input for each value the URL gives (at least one), the first with the
 * field's id. */
function texts(name, label, hint, current) {
  const id = `f-${name.replace(/\W/g, "-")}`;
  const values = current.length ? current : [""];
  return field(id, label, values.map((value, i) => el("input", {
    id: i ? `${id}-${i + 1}` : id, name, value, placeholder: hint, autocomplete: "off",
    type: name === "filter.search" ? "search" : "text", "aria-label": i ? `${label} ${i + 1}` : null,
  })));
}

/** An RFC 3339 time (any offset; none read as UTC) ↔ the `datetime-local` input's
 * `2026-11-25T10:00:30.500`, in UTC to the millisecond the API stores: a shared link's `+02:00`,
 * seconds or fraction are neither shown wrong nor rewritten by Apply. */
const toInput = (iso) => {
  if (!iso) return "";
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(iso) ? iso : `${iso}Z`;
  const t = new Date(zoned);
  if (Number.isNaN(t.getTime())) return iso.slice(0, 23);
  const text = t.toISOString().slice(0, 23);
  return text.endsWith(".000") ? text.slice(0, 19) : text;
};
const fromInput = (v) => (v ? `${v.length === 16 ? `${v}:00` : v}Z` : "");

function filters(params, c) {
  const form = el("form", { id: "filters", class: "filters", "aria-label": "Filters" },
    TEXT.map(([name, label, hint]) => texts(name, label, hint, params.getAll(name))),
    choice("filter.reason", "Reason", c.reasons.map((r) => [r.code, r.title]), params.getAll("filter.reason")),
    choice("filter.level", "Level", c.levels.map((l) => [l, l.replace("ADMINISTRATION_EVENT_LEVEL_", "")]), params.getAll("filter.level")),
    choice("filter.operation", "Operation", c.operations.map((o) => [o, o]), params.getAll("filter.operation")),
    choice("filter.origin", "Origin", c.origins.map((o) => [o, o]), params.getAll("filter.origin")),
    choice("filter.triage", "Triage", c.triageStates.map((t) => [t, t.replace("_", " ")]), params.getAll("filter.triage"), "All but false positives"),
    field("f-from", "Last failed from (UTC)", el("input", { id: "f-from", name: "filter.from", type: "datetime-local", step: "0.001", value: toInput(params.get("filter.from")) })),
    field("f-until", "Last failed until (UTC)", el("input", { id: "f-until", name: "filter.until", type: "datetime-local", step: "0.001", value: toInput(params.get("filter.until")) })),
    choice(REVERSED, "Order", [["true", "Oldest first"]], params.getAll(REVERSED).slice(0, 1), "Newest first"),
    field("f-limit", "Per page", el("select", { id: "f-limit", name: LIMIT },
      limits(params.get(LIMIT) || "50").map((l) => el("option", { value: l, selected: l === (params.get(LIMIT) || "50") }, l)))),
    el("div", { class: "buttons" },
      el("button", { type: "submit" }, "Apply"),
      el("a", { href: "#/events", class: "button secondary" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const next = new URLSearchParams();
    for (const input of form.querySelectorAll("input, select")) {
      const values = input.tagName === "SELECT" ? [...input.selectedOptions].map((o) => o.value)
        : [input.type === "datetime-local" ? fromInput(input.value) : input.value.trim()];
      for (const v of values) if (v) next.append(input.name, v);
    }
    location.hash = `#/events?${next}`;
  });
  return form;
}

/** The URL of this view with `changes` applied (null removes). */
function withParams(params, changes) {
  const next = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) next.delete(k);
    else next.set(k, v);
  }
  return `#/events?${next}`;
}

export async function render({ params }) {
  const query = new URLSearchParams([...params].filter(([k]) => KNOWN.has(k)));
  if (!query.has(LIMIT)) query.set(LIMIT, "50");
  const counted = new URLSearchParams([...query].filter(([k]) => k.startsWith("filter.")));
  const [page, c, count] = await Promise.all([
    api("GET", "/v1/administration/events", query),
    catalog(),
    // The count is one of the three throttled routes: asked on a first page only, not at every
    // step of paging.
    query.has(CURSOR) ? null : api("GET", "/v1/count/administration/events", counted).catch((e) => ({ problem: e.message })),
  ]);
  const reversed = params.get(REVERSED) === "true";
  const sortHeader = el("th", { scope: "col", "aria-sort": reversed ? "ascending" : "descending" },
    el("a", { href: withParams(params, { [REVERSED]: reversed ? null : "true", [CURSOR]: null }), id: "sort-last", title: "Change the order" },
      `Last failed ${reversed ? "▲" : "▼"}`));
  const rows = page.events.map((e) => {
    const r = c.reason[e.scanFailure.reason] || { title: e.scanFailure.reason };
    return el("tr", { "data-id": e.id },
      el("td", {}, eventLink(e.resource.name, e.id)),
      el("td", {}, r.title),
      el("td", {}, e.level.replace("ADMINISTRATION_EVENT_LEVEL_", "")),
      el("td", { class: "num" }, n(e.numOccurrences)),
      el("td", {}, when(e.lastOccurredAt)),
      el("td", {}, (e.scanFailure.triage?.state || "open").replace("_", " ")),
      el("td", {}, e.scanFailure.account || ""),
      el("td", {}, (e.scanFailure.clusters || []).join(", ")));
  });
  return el("div", { class: "events" },
    el("h2", {}, "Events"),
    filters(params, c),
    count ? el("p", { id: "matching", class: "totals" },
      count.problem ? `Count unavailable: ${count.problem}` : `${n(count.count)} matching events.`) : null,
    el("table", { id: "events" },
      el("caption", {}, reversed ? "Failure groups, oldest first" : "Failure groups, most recent first"),
      el("thead", {}, el("tr", {},
        ["Image", "Reason", "Level", "Failures"].map((h) => el("th", { scope: "col" }, h)),
        sortHeader,
        ["Triage", "Account", "Clusters"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows)),
    rows.length ? null : el("p", { class: "note" }, page.nextCursor
      // A filter the indexes do not cover reads a bounded number of records a page: none of
      // those read matched, and the rest are still to be read.
      ? "No event matched in the records this page read; the next page reads on."
      : "No event matches these filters."),
    el("nav", { "aria-label": "Pages", class: "pages" },
      params.has(CURSOR) ? el("a", { href: withParams(params, { [CURSOR]: null }), id: "first-page" }, "First page") : null,
      page.nextCursor ? el("a", { href: withParams(params, { [CURSOR]: page.nextCursor }), id: "next-page", rel: "next" }, "Next page") : null));
}
