// The console's one way to the API (through the local server, which signs each call with the
// admin's AWS credentials), its error messages, the catalog of reasons and the DOM helpers the
// views share.

/** Shown for a 403 on a write: the identity may read but not change. */
export const VIEW_ONLY = "Your IAM identity has view permission only: ask for it to be added to the stack's AdminWritePrincipals to triage, delete or change the retention.";
/** Shown for a 403 on a read. */
export const NO_VIEW = "Your IAM identity has no permission to view these events: ask for it to be added to the stack's AdminViewPrincipals.";

// The token of the printed URL's fragment (`#token=…`, which no request carries), kept in this
// tab's sessionStorage (this origin's alone: scheme, host and port) and taken out of the address
// bar; every call to the API sends it in its header (cli/src/console/gate.rs says why not a cookie).
const TOKEN_KEY = "scanfail-console-token";
const FRAGMENT = "#token=";
if (location.hash.startsWith(FRAGMENT)) {
  sessionStorage.setItem(TOKEN_KEY, location.hash.slice(FRAGMENT.length));
  history.replaceState(null, "", location.pathname);
}

/** Shown for API Gateway's own 403 (no `error` field): the IAM policy, not the stack's lists. */
export const NO_INVOKE = "API Gateway refused your IAM identity: it needs execute-api:Invoke on this API (an IAM policy of your account), or the console signs for another region than the API's.";

/** A failed call, with the message to show. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** `method path?params` with an optional JSON body; the parsed answer, or an ApiError. */
export async function api(method, path, params, body) {
  const query = params ? params.toString() : "";
  const init = { method, credentials: "omit", headers: { "x-scanfail-token": sessionStorage.getItem(TOKEN_KEY) ?? "" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const res = await fetch(query ? `${path}?${query}` : path, init);
  const answer = await res.json().catch(() => ({}));
  if (res.status === 403 && answer.error === "forbidden") {
    throw new ApiError(403, method === "GET" ? NO_VIEW : VIEW_ONLY);
  }
  if (res.status === 403 && answer.error === undefined) {
    // API Gateway's own refusal: its message names an expired token or signature, a clock
    // off by minutes, or a missing permission, so it is shown with the usual causes.
    throw new ApiError(403, answer.message ? `${NO_INVOKE} API Gateway said: ${String(answer.message).slice(0, 500)}` : NO_INVOKE);
  }
  if (!res.ok) {
    throw new ApiError(res.status, answer.message || `The API answered HTTP ${res.status}.`);
  }
  return answer;
}

/** Runs a writer's action: `doing` in `status` meanwhile, then whatever `work` shows, or the
 * failure's message as an alert (a 403 reads as view permission only). The `controls` that
 * start it are disabled meanwhile, so a second click (or Enter) does not run it twice: two
 * triages, or two deletions each counting half. */
export async function act(status, doing, work, ...controls) {
  if (controls.some((c) => c.disabled)) return;
  for (const c of controls) c.disabled = true;
  status.textContent = doing;
  status.setAttribute("role", "status");
  try {
    await work();
  } catch (err) {
    status.textContent = shown(err.message);
    status.setAttribute("role", "alert");
  } finally {
    for (const c of controls) c.disabled = false;
  }
}

let catalogPromise = null;
/** The reasons (code, title, hint, level) and the other closed sets, read once. */
export function catalog() {
  catalogPromise ??= api("GET", "/catalog.json").then((c) => {
    c.reason = Object.fromEntries(c.reasons.map((r) => [r.code, r]));
    return c;
  });
  return catalogPromise;
}

/** `s` with the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069)
 * written as `\u{202e}`, as `scanfail` prints them: the page shows text others wrote (image
 * names, notes, the API's messages quoting them), which such a control would show reordered
 * ("evil\u{202e}gpj.exe" as "evilexe.jpg"). */
export const shown = (s) => String(s).replace(/[\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);

/** An element with attributes (`on*` functions become listeners) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = tag === "svg" || attrs.svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false || k === "svg") continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = shown(v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  return add(node, ...children);
}

/** `node` with `children` appended: nested arrays flattened, `null`, `undefined` and `false`
 * left out, anything else not a node as text, [`shown`] (but a textarea's, which is a value to
 * edit and send back as it is). */
export function add(node, ...children) {
  const text = node.tagName === "TEXTAREA" ? String : shown;
  for (const c of children.flat(Infinity)) {
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : text(c));
  }
  return node;
}

/** An SVG element. */
export function svg(tag, attrs = {}, ...children) {
  return el(tag, { ...attrs, svg: true }, ...children);
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return el("table", attrs,
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

/** A count for people: 12,345. */
export const n = (v) => Number(v).toLocaleString("en");

/** A timestamp for people, in UTC: 2026-11-25 10:00:00 UTC. */
export const when = (iso) => (iso ? `${iso.slice(0, 19).replace("T", " ")} UTC` : "");

/** A link to the events list with `filters` (an object). */
export function eventsLink(text, filters) {
  return el("a", { href: `#/events?${new URLSearchParams(filters)}` }, text);
}

/** A link to one event. */
export function eventLink(text, id) {
  return el("a", { href: `#/event/${encodeURIComponent(id)}` }, text);
}
