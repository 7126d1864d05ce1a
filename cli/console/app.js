// The console's first view: the totals and the event list, read through the local server, which
// signs each call with the admin's AWS credentials (the browser never holds them).
"use strict";

const state = { cursor: null, filters: new URLSearchParams() };

function say(message) {
  const p = document.getElementById("problem");
  p.textContent = message;
  p.hidden = !message;
}

async function api(path, params) {
  const query = params && params.toString();
  const res = await fetch(query ? `${path}?${query}` : path, { credentials: "same-origin" });
  const body = await res.json().catch(() => ({}));
  if (res.status === 403 && body.error === "forbidden") {
    throw new Error("Your IAM identity has view permission only, or none: ask for it to be added to the stack's AdminViewPrincipals or AdminWritePrincipals.");
  }
  if (!res.ok) {
    throw new Error(body.message || `HTTP ${res.status}`);
  }
  return body;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

async function loadPage(reset) {
  const params = new URLSearchParams(state.filters);
  params.set("pagination.limit", "50");
  if (!reset && state.cursor) params.set("pagination.cursor", state.cursor);
  const page = await api("/v1/administration/events", params);
  const body = document.querySelector("#events tbody");
  if (reset) body.replaceChildren();
  for (const e of page.events) {
    const row = document.createElement("tr");
    cell(row, e.resource.name);
    cell(row, e.scanFailure ? e.scanFailure.reason : "");
    cell(row, e.numOccurrences);
    cell(row, e.lastOccurredAt);
    cell(row, e.hint || "");
    body.appendChild(row);
  }
  state.cursor = page.nextCursor || null;
  document.getElementById("more").hidden = !state.cursor;
}

async function loadTotals() {
  const s = await api("/v1/administration/events/summary", state.filters);
  document.getElementById("totals").textContent =
    `${s.totals.groups} failure groups, ${s.totals.occurrences} failures in the retention window`;
}

async function refresh() {
  say("");
  try {
    await Promise.all([loadTotals(), loadPage(true)]);
  } catch (e) {
    say(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.filters = new URLSearchParams();
    for (const input of ev.target.querySelectorAll("input")) {
      if (input.value.trim()) state.filters.set(input.name, input.value.trim());
    }
    refresh();
  });
  document.getElementById("more").addEventListener("click", () => loadPage(false).catch((e) => say(e.message)));
  refresh();
});
