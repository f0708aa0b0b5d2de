// A batch: its counts and progress, an error breakdown, its throughput over
// time (throughput.js), cancel and retry-failed, its results (status
// filter, a viewer per result with its formats, extracted data and
// screenshot), and its webhook deliveries (deliveries.js). Polls the status
// at most once a second while the batch runs.
import { api, ApiError, pathOf } from "./api.js";
import { deliveriesSection } from "./deliveries.js";
import { throughputSection } from "./throughput.js";
import { announce, errorText, fmtDuration, fmtTime, h, isFinal, poll, progressBar, rateAndEta } from "./util.js";

const FILTERS = ["ok", "failed", "timeout", "dns", "connect", "tls", "http_error", "not_found", "too_large", "blocked",
  "invalid_url", "cancelled", "render_error", "captcha", "empty", "extract_error"];

export function render(view, id) {
  const enc = encodeURIComponent(id);
  const title = h("h1", {}, "Batch ", h("span", { class: "mono" }, id));
  const msg = h("p", { id: "batch-msg", role: "status" });
  const summary = h("section", { class: "card", "aria-label": "Summary" });
  const errors = h("section", { class: "card", "aria-labelledby": "err-h" });
  const actions = h("div", { class: "actions" });
  view.append(h("p", {}, h("a", { href: "#/batches" }, "← Batches")), title, msg, summary);

  let last = null;
  let results = null;
  let deliveries = null;
  let throughput = null;

  function stat(name, value) {
    return h("div", {}, h("dt", {}, name), h("dd", {}, value));
  }

  function showSummary(b) {
    const { rate, eta } = rateAndEta(b);
    summary.replaceChildren(
      h("h2", {}, "Status: ", h("span", { class: "status s-" + b.status, id: "batch-status" }, b.status)),
      progressBar(b, "Progress"),
      h("dl", { class: "stats" },
        stat("Total", b.total), stat("Processed", b.processed), stat("Succeeded", b.succeeded),
        stat("Failed", b.failed), stat("Credits", b.credits_charged ?? "–"),
        stat("Rate", rate ? rate.toFixed(1) + "/s" : "–"), stat("ETA", eta === null ? "–" : fmtDuration(eta))),
      h("p", { class: "muted" }, `Created ${fmtTime(b.created_at)} · started ${fmtTime(b.started_at)} · finished ${fmtTime(b.completed_at)}`,
        b.retry_of ? h("span", {}, " · retry of ", h("a", { href: "#/batch/" + b.retry_of, class: "mono" }, b.retry_of)) : ""),
      b.webhook ? h("p", {}, `Webhook ${b.webhook.url}: `, h("span", { class: "status s-" + b.webhook.status }, b.webhook.status),
        ` after ${b.webhook.attempts} attempt(s)`, b.webhook.last_error ? ` — ${b.webhook.last_error}` : "") : h("p", { class: "muted" }, "No webhook."),
      actions
    );
    actions.replaceChildren();
    if (!isFinal(b.status)) {
      const cancel = h("button", { type: "button", class: "danger" }, "Cancel batch");
      cancel.addEventListener("click", async () => {
        if (!confirm("Cancel this batch? Items not fetched yet are skipped.")) return;
        try {
          await api.json("DELETE", `/v1/batch/${enc}`);
          msg.textContent = "Cancel requested.";
          announce("Cancel requested");
        } catch (e) {
          msg.textContent = "Cannot cancel: " + errorText(e);
        }
      });
      actions.append(cancel);
    } else if (b.failed > 0) {
      const retry = h("button", { type: "button" }, `Retry ${b.failed} failed`);
      retry.addEventListener("click", async () => {
        retry.disabled = true;
        try {
          const a = await api.json("POST", `/v1/batch/${enc}/retry`);
          location.hash = "#/batch/" + a.id;
        } catch (e) {
          msg.textContent = "Cannot retry: " + errorText(e);
          retry.disabled = false;
        }
      });
      actions.append(retry);
    }
  }

  function showErrors(b) {
    const entries = Object.entries(b.errors || {}).sort((x, y) => y[1] - x[1]);
    const max = Math.max(1, ...entries.map((e) => e[1]));
    errors.replaceChildren(
      h("h2", { id: "err-h" }, "Errors"),
      entries.length
        ? h("ul", { class: "chart bad", id: "error-chart" },
            entries.map(([code, n]) => h("li", {}, h("span", {}, code),
              h("span", { class: "fill", style: `width:${(100 * n) / max}%`, role: "img", "aria-label": `${code}: ${n}` }),
              h("span", {}, n))))
        : h("p", { class: "muted" }, "No errors.")
    );
  }

  const poller = poll(async () => {
    let b;
    try {
      b = await api.get(`/v1/batch/${enc}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        summary.replaceChildren(h("p", { class: "error", id: "not-found" }, "No such batch for your account."));
        return false;
      }
      msg.textContent = "Cannot load: " + errorText(e);
      return true;
    }
    const changed = !last || last.processed !== b.processed || last.status !== b.status;
    showSummary(b);
    if (!last) {
      throughput = throughputSection(id);
      view.append(errors, throughput.el);
      results = resultsSection(id);
      deliveries = deliveriesSection(id);
      view.append(results.el, deliveries.el);
    }
    showErrors(b);
    if (changed) results.refresh();
    throughput.refresh(isFinal(b.status));
    deliveries.refresh();
    last = b;
    // Once final, the deliveries still move (retries, replays): slower.
    return isFinal(b.status) ? 5000 : 1000;
  });
  return () => {
    poller.stop();
    if (results) results.stop();
  };
}

function resultsSection(id) {
  const enc = encodeURIComponent(id);
  const sel = h("select", { id: "r-status" }, h("option", { value: "" }, "all"), FILTERS.map((s) => h("option", { value: s }, s)));
  const tbody = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "More results");
  const viewer = h("div", { class: "viewer", id: "viewer" });
  const el = h("section", { class: "card", "aria-labelledby": "res-h" },
    h("h2", { id: "res-h" }, "Results"),
    h("div", { class: "filters" }, h("label", { for: "r-status" }, "Status"), sel),
    h("div", { class: "scroll" }, h("table", { id: "results" },
      h("thead", {}, h("tr", {}, ["#", "URL", "Status", "HTTP", "Time", ""].map((t) => h("th", { scope: "col" }, t)))), tbody)),
    more, viewer);
  let next = null;
  let objectUrls = [];

  function rowOf(r) {
    const open = h("button", { type: "button", class: "secondary", "aria-controls": "viewer" }, "View");
    open.addEventListener("click", () => show(r));
    const input = typeof r.input === "string" ? r.input : JSON.stringify(r.input);
    return h("tr", { "data-index": r.index, "data-status": r.status },
      h("td", {}, r.index), h("td", { class: "mono" }, input),
      h("td", {}, h("span", { class: "status s-" + (r.status === "ok" ? "ok" : "failed") }, r.status)),
      h("td", {}, r.http_status ?? "–"), h("td", {}, r.duration_ms + " ms"), h("td", {}, open));
  }

  async function load(path, append) {
    const d = await api.get(path);
    if (!append) tbody.replaceChildren();
    tbody.append(...d.results.map(rowOf));
    if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No results yet.")));
    next = d.next;
    more.hidden = !next;
  }
  const first = () => `/v1/batch/${enc}/results?limit=50` + (sel.value ? "&status=" + sel.value : "");
  sel.addEventListener("change", () => load(first(), false));
  more.addEventListener("click", () => next && load(pathOf(next), true));

  function freeUrls() {
    objectUrls.forEach(URL.revokeObjectURL);
    objectUrls = [];
  }

  // The viewer: one tab per format present, the extracted data, the
  // screenshot fetched with the key and shown inline.
  function show(r) {
    freeUrls();
    const data = r.data || {};
    const tabs = [];
    const add = (name, make) => tabs.push({ name, make });
    for (const f of ["markdown", "text", "html"]) if (typeof data[f] === "string") add(f, () => h("pre", {}, data[f]));
    if (Array.isArray(data.links)) add("links", () => h("ul", {}, data.links.map((l) => h("li", { class: "mono" }, l))));
    if (data.metadata) add("metadata", () => h("pre", {}, JSON.stringify(data.metadata, null, 2)));
    if (data.extract) add("extract", () => h("pre", { id: "extract" }, JSON.stringify(data.extract, null, 2)));
    if (data.screenshot && data.screenshot.url)
      add("screenshot", () => {
        const box = h("div", {}, h("p", { class: "muted" }, "Loading screenshot…"));
        api.blobUrl(pathOf(data.screenshot.url)).then(
          (u) => {
            objectUrls.push(u);
            box.replaceChildren(h("img", { src: u, alt: `Screenshot of ${r.final_url || r.input}`, id: "shot" }));
          },
          (e) => box.replaceChildren(h("p", { class: "error" }, "Screenshot unavailable: " + errorText(e)))
        );
        return box;
      });
    const other = { ...data };
    for (const k of ["markdown", "text", "html", "links", "metadata", "extract", "screenshot"]) delete other[k];
    if (Object.keys(other).length) add("data", () => h("pre", {}, JSON.stringify(other, null, 2)));
    const panel = h("div", { role: "tabpanel", id: "tabpanel", tabindex: 0 });
    const list = h("div", { role: "tablist", "aria-label": "Formats" });
    const select = (i) => {
      [...list.children].forEach((b, j) => {
        b.setAttribute("aria-selected", String(i === j));
        b.tabIndex = i === j ? 0 : -1;
      });
      panel.replaceChildren(tabs[i].make());
    };
    tabs.forEach((t, i) => {
      const b = h("button", { type: "button", role: "tab", "aria-controls": "tabpanel" }, t.name);
      b.addEventListener("click", () => select(i));
      b.addEventListener("keydown", (ev) => {
        const d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
        if (!d) return;
        const j = (i + d + tabs.length) % tabs.length;
        select(j);
        list.children[j].focus();
      });
      list.append(b);
    });
    viewer.replaceChildren(
      h("h3", { id: "viewer-h", tabindex: -1 }, `Result #${r.index}: `, h("span", { class: "mono" }, r.final_url || String(r.input))),
      h("p", {}, `Status ${r.status}`, r.error ? ` — ${r.error}` : "", ` · HTTP ${r.http_status ?? "–"} · ${r.content_type ?? "no type"} · ${r.attempts} attempt(s) · fetched ${fmtTime(r.fetched_at)}`),
      tabs.length ? list : h("p", { class: "muted" }, "No data (the item failed or asked for no format)."),
      panel
    );
    if (tabs.length) select(0);
    viewer.querySelector("#viewer-h").focus();
  }

  return {
    el,
    refresh: () => load(first(), false).catch((e) => (more.hidden = true, tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "error" }, errorText(e)))))),
    stop: freeUrls,
  };
}
