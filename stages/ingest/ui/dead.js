// Dead letters: the tenant's webhook deliveries that died (tiers exhausted,
// 410 Gone, a task that could never be sent), across its batches, newest
// first (GET /v1/deliveries/dead, a page at a time), each with a replay
// button (POST /v1/deliveries/{delivery_id}/redeliver). A replayed delivery
// leaves the list once its new attempt is recorded.
import { api, pathOf } from "./api.js";
import { announce, errorText, fmtTime, h, poll } from "./util.js";

export function render(view) {
  const tbody = h("tbody");
  const msg = h("p", { role: "status", id: "dead-msg" });
  const count = h("p", { class: "muted", id: "dead-total" });
  const newer = h("button", { type: "button", class: "secondary" }, "Newer");
  const older = h("button", { type: "button", class: "secondary" }, "Older");
  view.append(
    h("h1", {}, "Dead letters"),
    h("p", {}, "Webhook deliveries that gave up: the retry tiers ran out, the receiver answered 410 Gone, or the task could not be sent. Fix the receiver, then replay."),
    h("section", { class: "card", "aria-label": "Dead deliveries" },
      count,
      h("div", { class: "scroll" }, h("table", { id: "dead" },
        h("thead", {}, h("tr", {}, ["Died", "Batch", "Event", "Attempts", "Response", "Error / response excerpt", ""].map((t) => h("th", { scope: "col" }, t)))),
        tbody)),
      h("div", { class: "pager" }, newer, older), msg));

  // pages[i] is the path of page i.
  let pages = ["/v1/deliveries/dead?limit=20"];
  let page = 0;

  function row(a) {
    const replay = h("button", { type: "button", "aria-label": `Replay ${a.event} of ${a.batch_id}` }, "Replay");
    replay.addEventListener("click", async () => {
      replay.disabled = true;
      try {
        const r = await api.json("POST", `/v1/deliveries/${encodeURIComponent(a.delivery_id)}/redeliver`);
        msg.textContent = `Replay queued (${r.event} of ${r.id}, delivery ${r.delivery_id}).`;
        announce("Replay queued");
      } catch (e) {
        msg.textContent = "Cannot replay: " + errorText(e);
        replay.disabled = false;
      }
    });
    const what = a.event + (a.index !== undefined ? ` #${a.index}` : "");
    return h("tr", { "data-delivery": a.delivery_id, "data-batch": a.batch_id },
      h("td", {}, fmtTime(a.at)),
      h("td", {}, h("a", { href: "#/batch/" + a.batch_id, class: "mono" }, a.batch_id)),
      h("td", {}, what), h("td", {}, a.attempt), h("td", {}, a.status_code ?? "–"),
      h("td", { class: "mono" }, [a.error, a.response_body].filter(Boolean).join(" — ") || "–"),
      h("td", {}, replay));
  }

  async function load() {
    const d = await api.get(pages[page]);
    tbody.replaceChildren(...d.dead.map(row));
    if (!d.dead.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No dead deliveries.")));
    count.textContent = `${d.total} dead ${d.total === 1 ? "delivery" : "deliveries"}`;
    if (d.next) pages[page + 1] = pathOf(d.next);
    else pages.length = page + 1;
    newer.disabled = page === 0;
    older.disabled = !d.next;
  }
  newer.addEventListener("click", () => { page = Math.max(page - 1, 0); load(); });
  older.addEventListener("click", () => { page++; load(); });
  // Replays and new deaths move the list: refreshed every 5 s while shown.
  const poller = poll(async () => {
    try {
      await load();
    } catch (e) {
      msg.textContent = "Cannot load dead deliveries: " + errorText(e);
    }
    return 5000;
  });
  return () => poller.stop();
}
