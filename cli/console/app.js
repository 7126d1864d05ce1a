// The console's router: the view and its filters live in the URL's fragment (#/events?…), so a
// view can be bookmarked or shared, and the browser's back button walks the views.
import { ApiError, shown } from "./api.js";
import * as overview from "./overview.js";
import * as trend from "./trend.js";
import * as events from "./events.js";
import * as event from "./event.js";
import * as settings from "./settings.js";

const VIEWS = { overview, trend, events, event, settings };

/** Shows `message` in the page's alert region (empty hides it). */
export function say(message) {
  const p = document.getElementById("problem");
  p.textContent = shown(message);
  p.hidden = !message;
}

/** The view, its argument (an event id) and its parameters, from `#/name/arg?params`. */
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?", 2);
  const [name, arg] = path.split("/", 2);
  return { name: VIEWS[name] ? name : "overview", arg: arg ? decoded(arg) : null, params: new URLSearchParams(query) };
}

/** `%`-escapes undone, or the text as it is where they are not UTF-8 (`%E0`): a link cannot stop
 * the router before its view. */
function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

let generation = 0;

async function show() {
  const { name, arg, params } = route();
  const hash = location.hash;
  const mine = ++generation;
  const main = document.getElementById("view");
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name || (name === "event" && a.dataset.view === "events")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  say("");
  main.setAttribute("aria-busy", "true");
  try {
    const content = await VIEWS[name].render({ arg, params, say });
    if (mine !== generation) return;
    main.replaceChildren(content);
  } catch (e) {
    if (mine !== generation) return;
    main.replaceChildren();
    say(e instanceof ApiError ? e.message : `The console failed: ${e.message}`);
  } finally {
    if (mine === generation) {
      main.setAttribute("aria-busy", "false");
      document.body.dataset.view = name;
      document.body.dataset.route = hash;
    }
  }
}

window.addEventListener("hashchange", show);
show();
