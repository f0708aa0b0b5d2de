// A batch's throughput over time (GET /v1/batch/{id}/throughput): items
// done per bucket of completion time, ok and failed stacked, as columns
// with the peak rate. Read back from the results on the server, so the
// page asks at most every 5 s while the batch runs, and once it ended.
import { api } from "./api.js";
import { errorText, fmtTime, h } from "./util.js";

function widthText(ms) {
  if (ms < 60000) return ms / 1000 + " s";
  if (ms < 3600000) return ms / 60000 + " min";
  return ms / 3600000 + " h";
}

export function throughputSection(id) {
  const enc = encodeURIComponent(id);
  const body = h("div", { id: "throughput" }, h("p", { class: "muted" }, "Loading…"));
  const el = h("section", { class: "card", "aria-labelledby": "tp-h" }, h("h2", { id: "tp-h" }, "Throughput"), body);
  let lastAt = 0;
  let done = false;

  function draw(t) {
    if (!t.items) {
      body.replaceChildren(h("p", { class: "muted" }, "No results yet."));
      return;
    }
    const max = Math.max(1, ...t.buckets.map((b) => b.ok + b.failed));
    const cols = t.buckets.map((b) => {
      const n = b.ok + b.failed;
      const label = `${fmtTime(b.at)}: ${b.ok} ok, ${b.failed} failed`;
      return h("li", { title: label, "aria-label": label, "data-ok": b.ok, "data-failed": b.failed },
        h("span", { class: "col-bad", style: `height:${(100 * b.failed) / max}%` }),
        h("span", { class: "col-ok", style: `height:${(100 * b.ok) / max}%` }),
        n ? "" : h("span", { class: "sr-only" }, "none"));
    });
    body.replaceChildren(
      h("p", {}, `${t.items} results, ${widthText(t.bucket_ms)} per column, peak `, h("strong", { id: "tp-peak" }, t.peak_per_s.toFixed(1) + "/s"),
        ` (${fmtTime(t.from)} – ${fmtTime(t.to)})`),
      h("ol", { class: "columns", id: "tp-chart", role: "list", "aria-label": "Results per time bucket" }, cols),
      h("p", { class: "muted legend" }, h("span", { class: "key col-ok" }), " ok ", h("span", { class: "key col-bad" }), " failed"));
  }

  // Called on every status poll; reads the series when due.
  async function refresh(final) {
    if (done || Date.now() - lastAt < 5000) return;
    lastAt = Date.now();
    try {
      draw(await api.get(`/v1/batch/${enc}/throughput?buckets=60`));
      done = final;
    } catch (e) {
      body.replaceChildren(h("p", { class: "error" }, "Cannot load the throughput: " + errorText(e)));
    }
  }
  return { el, refresh };
}
