// Settings: the tenant's default webhook (GET/PUT /v1/webhook), its signing
// secret (POST /v1/webhook/secret: shown once; the overlap of the previous
// one counted down, ended early with DELETE /v1/webhook/secret/previous),
// and usage per UTC day (GET /v1/usage) as a chart and a table.
import { api } from "./api.js";
import { announce, errorText, fmtTime, h, poll } from "./util.js";

const EVENTS = ["batch.completed", "batch.failed", "batch.cancelled", "item.completed"];
const DEFAULT_EVENTS = EVENTS.slice(0, 3);

export function render(view) {
  // Disabled until the settings are read, so what they hold never overwrites
  // what the user typed meanwhile.
  const url = h("input", { id: "wh-url", type: "url", disabled: true, placeholder: "https://receiver.example/hooks/ferry" });
  const boxes = EVENTS.map((e) => h("input", { type: "checkbox", value: e, id: "ev-" + e }));
  const whMsg = h("p", { role: "status", id: "wh-msg" });
  const whForm = h("form", { class: "card", id: "wh-form" },
    h("h2", {}, "Default webhook"),
    h("p", { class: "muted" }, "Batches submitted without webhook_url are sent here."),
    h("label", { for: "wh-url" }, "Webhook URL (empty: none)"), url,
    h("fieldset", {}, h("legend", {}, "Events"), boxes.map((b) => h("label", { class: "check", for: b.id }, b, b.value))),
    h("button", { type: "submit" }, "Save webhook"), whMsg);

  const secretState = h("p", { id: "secret-state" });
  const overlap = h("select", { id: "overlap" }, ["0s", "1h", "24h", "7d"].map((o) => h("option", { value: o, selected: o === "24h" }, o)));
  const rotate = h("button", { type: "button", id: "rotate" }, "Rotate secret");
  const endOverlap = h("button", { type: "button", class: "secondary", hidden: true }, "End the overlap now");
  const shown = h("div", { id: "secret-shown", "aria-live": "polite" });
  const secretCard = h("section", { class: "card", "aria-labelledby": "sec-h" },
    h("h2", { id: "sec-h" }, "Signing secret"), secretState,
    h("div", { class: "actions" }, h("label", { for: "overlap" }, "Previous secret keeps signing for"), overlap, rotate, endOverlap),
    shown);

  const usage = h("section", { class: "card", "aria-labelledby": "use-h" }, h("h2", { id: "use-h" }, "Usage per day (UTC)"));
  view.append(h("h1", {}, "Settings"), whForm, secretCard, usage);

  let settings = null;
  function showSettings(s) {
    const first = !settings;
    settings = s;
    url.disabled = false;
    if (first || document.activeElement !== url) url.value = s.url || "";
    const ev = s.events || DEFAULT_EVENTS;
    boxes.forEach((b) => (b.checked = ev.includes(b.value)));
    tick();
  }
  // The state line, with the overlap's countdown (refreshed by the poller).
  function tick() {
    if (!settings) return;
    const s = settings;
    let text = s.secret_set ? `A tenant secret signs your webhooks (created ${fmtTime(s.secret_created_at)}).` : "No tenant secret: each batch gets its own.";
    const left = s.previous_valid_until ? (Date.parse(s.previous_valid_until) - Date.now()) / 1000 : 0;
    if (left > 0) {
      const hh = Math.floor(left / 3600), mm = Math.floor((left % 3600) / 60), ss = Math.floor(left % 60);
      text += ` The previous secret still signs for ${hh}h ${String(mm).padStart(2, "0")}m ${String(ss).padStart(2, "0")}s.`;
    }
    secretState.textContent = text;
    endOverlap.hidden = !(left > 0);
  }

  whForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const events = boxes.filter((b) => b.checked).map((b) => b.value);
    try {
      showSettings(await api.json("PUT", "/v1/webhook", { url: url.value.trim() || null, events: events.length ? events : null }));
      whMsg.textContent = "Saved.";
      announce("Webhook saved");
    } catch (e) {
      whMsg.textContent = "Refused: " + errorText(e);
    }
  });
  rotate.addEventListener("click", async () => {
    if (settings && settings.secret_set && !confirm("Rotate the signing secret? Receivers need the new one.")) return;
    try {
      const r = await api.json("POST", "/v1/webhook/secret", { overlap: overlap.value });
      shown.replaceChildren(
        h("p", {}, h("strong", {}, "New secret — shown this once, copy it now:")),
        h("p", { class: "secret mono", id: "new-secret", tabindex: 0 }, r.secret));
      announce("New secret shown once");
      showSettings(await api.get("/v1/webhook"));
    } catch (e) {
      shown.replaceChildren(h("p", { class: "error" }, "Cannot rotate: " + errorText(e)));
    }
  });
  endOverlap.addEventListener("click", async () => {
    try {
      showSettings(await api.json("DELETE", "/v1/webhook/secret/previous"));
    } catch (e) {
      shown.replaceChildren(h("p", { class: "error" }, errorText(e)));
    }
  });

  api.get("/v1/webhook").then(showSettings, (e) => (whMsg.textContent = "Cannot load: " + errorText(e)));
  api.get("/v1/usage").then(
    (u) => {
      const max = Math.max(1, ...u.days.map((d) => d.items));
      usage.append(
        h("p", {}, `${u.from} to ${u.to}: ${u.total.items} items, ${u.total.succeeded} succeeded, ${u.total.failed} failed, ${u.total.credits} credits, ${u.total.webhooks_delivered} webhooks delivered.`),
        h("ul", { class: "chart", id: "usage-chart", "aria-label": "Items per day" },
          u.days.filter((d) => d.items > 0 || d === u.days[u.days.length - 1]).map((d) =>
            h("li", {}, h("span", {}, d.date),
              h("span", { class: "fill", style: `width:${(100 * d.items) / max}%`, role: "img", "aria-label": `${d.date}: ${d.items} items` }),
              h("span", {}, d.items)))),
        h("details", {}, h("summary", {}, "Every day as a table"),
          h("div", { class: "scroll" }, h("table", { id: "usage" },
            h("thead", {}, h("tr", {}, ["Day", "Batches", "Items", "Succeeded", "Failed", "Credits", "Webhooks"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, u.days.slice().reverse().map((d) => h("tr", {}, [d.date, d.batches, d.items, d.succeeded, d.failed, d.credits, d.webhooks_delivered].map((v) => h("td", {}, v)))))))));
    },
    (e) => usage.append(h("p", { class: "error" }, "Cannot load usage: " + errorText(e)))
  );
  const ticker = poll(() => tick(), 1000);
  return () => ticker.stop();
}
