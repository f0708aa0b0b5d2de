// Schedules: the tenant's recurring batches (GET /v1/schedules, paged),
// their next and last runs, pause/resume (PATCH paused), run now
// (POST /v1/schedules/{id}/run, which links to the run's batch) and a
// schedule's past runs (GET /v1/schedules/{id}: its newest 20, each a batch).
import { api, pathOf } from "./api.js";
import { announce, errorText, fmtTime, h, poll } from "./util.js";

export function render(view) {
  const tbody = h("tbody");
  const msg = h("p", { role: "status", id: "sched-msg" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More schedules");
  const runs = h("section", { class: "card", id: "runs", "aria-labelledby": "runs-h", hidden: true });
  let shown = null; // the id of the schedule whose runs are open
  view.append(
    h("h1", {}, "Schedules"),
    h("section", { class: "card", "aria-label": "Schedules" },
      h("div", { class: "scroll" }, h("table", { id: "schedules" },
        h("thead", {}, h("tr", {}, ["Name", "Cron", "Time zone", "State", "Next run", "Last run", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        tbody)),
      more, msg),
    runs);

  let pages = ["/v1/schedules?limit=50"];

  // The open schedule's past runs, newest first, each linking to its batch.
  async function showRuns(focus) {
    if (!shown) return;
    let s;
    try {
      s = await api.get(`/v1/schedules/${encodeURIComponent(shown)}`);
    } catch (e) {
      runs.replaceChildren(h("p", { class: "error" }, "Cannot load runs: " + errorText(e)));
      return;
    }
    const rows = (s.runs || []).map((r) => h("tr", { "data-batch": r.batch_id, "data-status": r.status },
      h("td", {}, fmtTime(r.scheduled_for)),
      h("td", {}, h("a", { href: "#/batch/" + r.batch_id, class: "mono" }, r.batch_id)),
      h("td", {}, h("span", { class: "status s-" + r.status }, r.status))));
    runs.hidden = false;
    runs.replaceChildren(
      h("h2", { id: "runs-h", tabindex: -1 }, `Runs of ${s.name || s.id}`),
      h("div", { class: "scroll" }, h("table", { id: "runs-table" },
        h("thead", {}, h("tr", {}, ["Slot", "Batch", "Status"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 3, class: "muted" }, "No runs yet."))))),
      h("p", { class: "muted" }, "The newest 20 runs; each run is a batch of its own."));
    if (focus) runs.querySelector("#runs-h").focus();
  }

  function row(s) {
    const enc = encodeURIComponent(s.id);
    const label = s.name || s.id;
    const toggle = h("button", { type: "button", class: "secondary", "aria-label": `${s.paused ? "Resume" : "Pause"} ${label}` }, s.paused ? "Resume" : "Pause");
    toggle.addEventListener("click", async () => {
      try {
        await api.json("PATCH", `/v1/schedules/${enc}`, { paused: !s.paused });
        msg.textContent = `${label} ${s.paused ? "resumed" : "paused"}.`;
        announce(msg.textContent);
        reload();
      } catch (e) {
        msg.textContent = "Cannot change: " + errorText(e);
      }
    });
    const run = h("button", { type: "button", "aria-label": `Run ${label} now` }, "Run now");
    run.addEventListener("click", async () => {
      try {
        const a = await api.json("POST", `/v1/schedules/${enc}/run`);
        msg.replaceChildren(`${label} started: `, h("a", { href: "#/batch/" + a.id, class: "mono" }, a.id));
        announce("Run started");
        reload();
      } catch (e) {
        msg.textContent = "Cannot run: " + errorText(e);
      }
    });
    const past = h("button", { type: "button", class: "secondary", "aria-controls": "runs", "aria-label": `Runs of ${label}` }, "Runs");
    past.addEventListener("click", () => {
      shown = s.id;
      showRuns(true);
    });
    return h("tr", { "data-id": s.id, "data-paused": String(s.paused) },
      h("td", {}, label), h("td", { class: "mono" }, s.cron), h("td", {}, s.timezone),
      h("td", {}, h("span", { class: "status " + (s.paused ? "s-cancelled" : "s-running") }, s.paused ? "paused" : "active")),
      h("td", {}, fmtTime(s.next_run_at)), h("td", {}, fmtTime(s.last_run_at)),
      h("td", {}, h("div", { class: "actions" }, toggle, run, past)));
  }

  async function reload() {
    const rows = [];
    let next = null;
    for (const p of pages) {
      const d = await api.get(p);
      rows.push(...d.schedules.map(row));
      next = d.next;
    }
    tbody.replaceChildren(...rows);
    if (!rows.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No schedules.")));
    more.hidden = !next;
    more.onclick = () => {
      pages.push(pathOf(next));
      reload();
    };
    await showRuns(false);
  }
  // Next and last runs (and the open runs' states) move on their own:
  // refreshed every 5 s while shown.
  const poller = poll(async () => {
    try {
      await reload();
    } catch (e) {
      msg.textContent = "Cannot load schedules: " + errorText(e);
    }
    return 5000;
  });
  return () => poller.stop();
}
