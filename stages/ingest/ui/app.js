// The dashboard's entry: sign in, then a page per location hash
// (#/batches, #/batch/<id>, #/dead, #/schedules, #/settings). Each page module exports
// render(view, arg) and returns a cleanup function (stops its polling).
import { api, key, setUnauthorizedHandler } from "./api.js";
import * as batches from "./batches.js";
import * as batch from "./batch.js";
import * as settings from "./settings.js";
import * as schedules from "./schedules.js";
import * as dead from "./dead.js";

const $ = (id) => document.getElementById(id);
let cleanup = null;

function showSignin(message) {
  if (cleanup) cleanup();
  cleanup = null;
  $("view").replaceChildren();
  $("nav").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("apikey").focus();
}

function route() {
  if (!key.get()) return showSignin();
  $("signin").hidden = true;
  $("nav").hidden = false;
  if (cleanup) cleanup();
  const view = $("view");
  view.replaceChildren();
  const hash = location.hash || "#/batches";
  let m;
  for (const a of document.querySelectorAll("#nav a"))
    a.toggleAttribute("aria-current", hash.startsWith(a.getAttribute("href")));
  if ((m = hash.match(/^#\/batch\/([A-Za-z0-9_]+)$/))) cleanup = batch.render(view, m[1]);
  else if (hash === "#/settings") cleanup = settings.render(view);
  else if (hash === "#/schedules") cleanup = schedules.render(view);
  else if (hash === "#/dead") cleanup = dead.render(view);
  else cleanup = batches.render(view);
  const h1 = view.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const k = $("apikey").value.trim();
  try {
    // A cheap authenticated call proves the key before it is kept.
    await api.get("/v1/batches?limit=1", k);
  } catch (e) {
    $("signin-error").textContent =
      e.status === 401 ? "That API key is not valid." : "Cannot reach ferry: " + e.message;
    return;
  }
  key.set(k);
  $("apikey").value = "";
  route();
});

$("signout").addEventListener("click", () => {
  key.clear();
  location.hash = "";
  showSignin("Signed out.");
});

setUnauthorizedHandler(() => {
  key.clear();
  showSignin("Your API key was refused; sign in again.");
});

window.addEventListener("hashchange", route);
route();
