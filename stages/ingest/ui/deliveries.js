// A batch's webhook deliveries: every kept attempt (time, event, response
// code, latency, outcome, error and response excerpt), the request each one
// POSTed (GET /v1/batch/{id}/deliveries/{delivery_id}/request: headers and
// the exact body, read back from the webhook task), and a replay of the
// batch's last event (POST /v1/batch/{id}/redeliver).
import { api } from "./api.js";
import { announce, errorText, fmtTime, h } from "./util.js";

// The body as sent, indented when it is JSON (it always is; the raw bytes
// are kept if not).
function pretty(body) {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch (_) {
    return body;
  }
}

export function deliveriesSection(id) {
  const enc = encodeURIComponent(id);
  const tbody = h("tbody");
  const note = h("p", { role: "status", id: "deliveries-msg" });
  const replay = h("button", { type: "button", id: "replay" }, "Replay the last webhook");
  const request = h("div", { class: "viewer", id: "request" });
  const el = h("section", { class: "card", "aria-labelledby": "del-h" },
    h("h2", { id: "del-h" }, "Webhook deliveries"),
    h("div", { class: "scroll" }, h("table", { id: "deliveries" },
      h("thead", {}, h("tr", {}, ["#", "Time", "Event", "Response", "Latency", "Outcome", "Error / response excerpt", ""].map((t) => h("th", { scope: "col" }, t)))), tbody)),
    h("div", { class: "actions" }, replay), note, request);
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      const r = await api.json("POST", `/v1/batch/${enc}/redeliver`);
      note.textContent = `Replay queued (${r.event}, delivery ${r.delivery_id}).`;
      announce("Replay queued");
      refresh();
    } catch (e) {
      note.textContent = "Cannot replay: " + errorText(e);
    }
    replay.disabled = false;
  });

  async function showRequest(a) {
    request.replaceChildren(h("p", { class: "muted" }, "Loading the request…"));
    let r;
    try {
      r = await api.get(`/v1/batch/${enc}/deliveries/${encodeURIComponent(a.delivery_id)}/request?attempt=${a.attempt}`);
    } catch (e) {
      request.replaceChildren(h("p", { class: "error" }, "Request unavailable: " + errorText(e)));
      return;
    }
    request.replaceChildren(
      h("h3", { id: "request-h", tabindex: -1 }, `Request of attempt ${r.attempt} (${r.event})`),
      h("p", { class: "mono" }, `${r.method} ${r.url}`),
      h("table", { id: "request-headers" }, h("tbody", {},
        Object.entries(r.headers).map(([k, v]) => h("tr", {}, h("th", { scope: "row", class: "mono" }, k), h("td", { class: "mono" }, v))),
        r.omitted_headers.map((k) => h("tr", {}, h("th", { scope: "row", class: "mono" }, k), h("td", { class: "muted" }, "not kept (signed with the secret in force then)"))))),
      h("p", { class: "muted" }, `Body: ${r.body_bytes} bytes, read back from ${r.task.topic} partition ${r.task.partition} offset ${r.task.offset}.`),
      h("pre", { id: "request-body", "data-raw": r.body }, pretty(r.body)));
    request.querySelector("#request-h").focus();
  }

  async function refresh() {
    let d;
    try {
      d = await api.get(`/v1/batch/${enc}/deliveries`);
    } catch (e) {
      note.textContent = "Cannot load deliveries: " + errorText(e);
      return;
    }
    tbody.replaceChildren(...d.deliveries.map((a) => {
      const show = h("button", { type: "button", class: "secondary", "aria-controls": "request", "aria-label": `Request of attempt ${a.attempt} at ${fmtTime(a.at)}` }, "Request");
      show.addEventListener("click", () => showRequest(a));
      return h("tr", { "data-outcome": a.outcome },
        h("td", {}, a.attempt), h("td", {}, fmtTime(a.at)), h("td", {}, a.event),
        h("td", {}, a.status_code ?? "–"), h("td", {}, a.latency_ms + " ms"),
        h("td", {}, h("span", { class: "status s-" + a.outcome }, a.outcome)),
        h("td", { class: "mono" }, [a.error, a.response_body].filter(Boolean).join(" — ") || "–"),
        h("td", {}, a.task ? show : ""));
    }));
    if (!d.deliveries.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No attempts yet.")));
    el.dataset.total = d.total_attempts;
    replay.hidden = d.total_attempts === 0;
  }
  return { el, refresh };
}
