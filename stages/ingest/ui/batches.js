// Batches: the tenant's batches (GET /v1/batches, a page at a time) with
// live progress, rate and ETA, status and kind filters; a form to submit a
// batch of pasted URLs (POST /v1/batch).
import { api, pathOf } from "./api.js";
import { announce, errorText, fmtDuration, fmtTime, h, isFinal, poll, progressBar, rateAndEta } from "./util.js";

const STATES = ["queued", "running", "completed", "failed", "cancelled"];
const FORMATS = ["html", "text", "markdown", "links", "metadata", "screenshot"];

export function render(view) {
  const filters = { status: "", kind: "" };
  // cursors[i] is the link of page i (null: the first page).
  let cursors = [null];
  let page = 0;
  let poller = null;

  const urls = h("textarea", { id: "urls", rows: 5, required: true, placeholder: "https://example.com/\nhttps://example.org/page" });
  const formatBoxes = FORMATS.map((f) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "format", value: f, checked: f === "markdown" }), f)
  );
  const submitMsg = h("p", { id: "submit-result", role: "status" });
  const form = h(
    "form",
    { id: "submit-form", class: "card" },
    h("h2", {}, "Submit a batch"),
    h("label", { for: "urls" }, "URLs, one per line"),
    urls,
    h("fieldset", {}, h("legend", {}, "Formats"), formatBoxes),
    h("button", { type: "submit" }, "Submit"),
    submitMsg
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const list = urls.value.split(/\s+/).map((s) => s.trim()).filter(Boolean);
    const formats = formatBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!list.length) {
      submitMsg.textContent = "Paste at least one URL.";
      return;
    }
    submitMsg.textContent = "Submitting…";
    try {
      const a = await api.json("POST", "/v1/batch", { urls: list, formats: formats.length ? formats : null });
      submitMsg.replaceChildren(
        "Accepted: ",
        h("a", { href: "#/batch/" + a.id }, a.id),
        ` (${a.total} URL${a.total === 1 ? "" : "s"})`,
        a.webhook_signature_secret ? ` — webhook secret, shown once: ${a.webhook_signature_secret}` : ""
      );
      urls.value = "";
      announce("Batch accepted");
      cursors = [null];
      page = 0;
      restart();
    } catch (e) {
      const where = e.details && e.details.field ? ` at ${e.details.field}` : "";
      submitMsg.textContent = "Refused: " + errorText(e) + where;
    }
  });

  const statusSel = h("select", { id: "f-status" }, h("option", { value: "" }, "any"), STATES.map((s) => h("option", { value: s }, s)));
  const kindSel = h("select", { id: "f-kind" }, h("option", { value: "" }, "any"), h("option", { value: "batch" }, "batch"), h("option", { value: "crawl" }, "crawl"));
  for (const [sel, k] of [[statusSel, "status"], [kindSel, "kind"]])
    sel.addEventListener("change", () => {
      filters[k] = sel.value;
      cursors = [null];
      page = 0;
      restart();
    });

  const tbody = h("tbody");
  const info = h("p", { class: "muted", role: "status" });
  const prev = h("button", { type: "button", disabled: true }, "Newer");
  const next = h("button", { type: "button", disabled: true }, "Older");
  prev.addEventListener("click", () => {
    page--;
    restart();
  });
  next.addEventListener("click", () => {
    page++;
    restart();
  });

  view.append(
    h("h1", {}, "Batches"),
    form,
    h(
      "section",
      { class: "card", "aria-labelledby": "list-h" },
      h("h2", { id: "list-h" }, "Your batches"),
      h("div", { class: "filters" }, h("label", { for: "f-status" }, "Status"), statusSel, h("label", { for: "f-kind" }, "Kind"), kindSel),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { id: "batches" },
          h("thead", {}, h("tr", {}, ["Batch", "Kind", "Status", "Progress", "Done", "Rate", "ETA", "Created"].map((t) => h("th", { scope: "col" }, t)))),
          tbody
        )
      ),
      h("div", { class: "pager" }, prev, next, info)
    )
  );

  function row(b) {
    const { rate, eta } = rateAndEta(b);
    return h(
      "tr",
      { "data-id": b.id, "data-status": b.status },
      h("td", {}, h("a", { href: "#/batch/" + b.id, class: "mono" }, b.id)),
      h("td", {}, b.kind || "batch"),
      h("td", {}, h("span", { class: "status s-" + b.status }, b.status)),
      h("td", {}, progressBar(b, "Progress of " + b.id)),
      h("td", {}, `${b.processed} / ${b.total}`, b.failed ? h("span", { class: "muted" }, ` (${b.failed} failed)`) : ""),
      h("td", {}, rate ? rate.toFixed(1) + "/s" : "–"),
      h("td", {}, eta === null ? "–" : fmtDuration(eta)),
      h("td", {}, fmtTime(b.created_at))
    );
  }

  async function load() {
    const q = new URLSearchParams({ limit: "20" });
    if (filters.status) q.set("status", filters.status);
    if (filters.kind) q.set("kind", filters.kind);
    const path = cursors[page] ? pathOf(cursors[page]) : "/v1/batches?" + q;
    const t0 = performance.now();
    const d = await api.get(path);
    tbody.replaceChildren(...d.batches.map(row));
    if (!d.batches.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "No batches yet.")));
    cursors[page + 1] = d.next;
    cursors.length = page + 2;
    prev.disabled = page === 0;
    next.disabled = !d.next;
    info.textContent = `Page ${page + 1} · ${d.batches.length} shown · ${Math.round(performance.now() - t0)} ms`;
    // Every second while something on this page moves; else every 5 s, to
    // show batches submitted elsewhere.
    return d.batches.some((b) => !isFinal(b.status)) ? 1000 : 5000;
  }

  function restart() {
    if (poller) poller.stop();
    poller = poll(async () => {
      try {
        return await load();
      } catch (e) {
        info.textContent = "Cannot load batches: " + errorText(e);
        return true;
      }
    });
  }
  restart();
  return () => poller && poller.stop();
}
