// Trend: the last 7, 30 or 90 days, failed scans and new failure groups per day, stacked by
// reason, with the figures as a table for those who read rather than look.
import { api, catalog, el, n, table } from "./api.js";
import { stackedBars } from "./chart.js";

const WINDOWS = ["7", "30", "90"];

export async function render({ params }) {
  const days = WINDOWS.includes(params.get("days")) ? params.get("days") : "7";
  const [t, c] = await Promise.all([api("GET", "/v1/administration/events/trend", new URLSearchParams({ days })), catalog()]);
  // The reasons the window has, in the catalog's order: the palette's colours go to them alone,
  // so two reasons in the charts share a colour only past the palette's twelve. A reason this
  // console's catalog does not know (an API newer than it) comes after, by its code: left out,
  // its failures would be missing from the bars while the totals count them.
  const present = new Set(t.series.flatMap((d) => Object.keys(d.byReason)));
  const series = c.reasons.filter((r) => present.has(r.code)).map((r) => ({ key: r.code, label: r.title }));
  for (const code of [...present].filter((k) => !c.reason[k]).sort()) series.push({ key: code, label: code });
  const of = (field) => t.series.map((d) => ({ date: d.date, parts: Object.fromEntries(Object.entries(d.byReason).map(([k, v]) => [k, v[field]])) }));
  return el("div", { class: "trend" },
    el("h2", {}, "Trend"),
    el("nav", { "aria-label": "Window", class: "window" },
      WINDOWS.map((w) => el("a", { href: `#/trend?days=${w}`, "aria-current": w === days ? "page" : null }, `Last ${w} days`))),
    el("p", { id: "trend-totals", class: "totals" },
      `${t.from} to ${t.until}: `, el("strong", {}, n(t.totals.occurrences)), " failed scans, ",
      el("strong", {}, n(t.totals.newGroups)), " new failure groups.",
      t.completeFrom > t.from ? ` Days before ${t.completeFrom} are incomplete: the retention has deleted part of them.` : ""),
    stackedBars("Failed scans per day, by reason", of("occurrences"), series, "failed scans"),
    stackedBars("New failure groups per day, by reason", of("newGroups"), series, "new groups"),
    el("details", {},
      el("summary", {}, "The figures as a table"),
      table("Per day", ["Day", "Failed scans", "New groups"], t.series.map((d) => [d.date, n(d.occurrences), n(d.newGroups)]))));
}
