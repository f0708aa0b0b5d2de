// Small helpers shared by the pages: building elements, formatting,
// polling that respects the tab's visibility.

// h("tag", {attrs}, ...children): an element. Text children are text
// nodes (never parsed as HTML), so nothing the API returns can inject markup.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    // Through the CSSOM: the page's Content-Security-Policy (style-src
    // 'self') drops style attributes written as markup or by setAttribute.
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function announce(text) {
  const a = document.getElementById("announce");
  a.textContent = "";
  setTimeout(() => (a.textContent = text), 50);
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

export function fmtDuration(sec) {
  if (!isFinite(sec) || sec < 0) return "–";
  if (sec < 1) return "<1 s";
  if (sec < 90) return Math.round(sec) + " s";
  if (sec < 5400) return Math.round(sec / 60) + " min";
  return (sec / 3600).toFixed(1) + " h";
}

const FINAL = new Set(["completed", "failed", "cancelled"]);
export const isFinal = (status) => FINAL.has(status);

// Items per second and seconds left, from a status document.
export function rateAndEta(b) {
  const start = b.started_at ? Date.parse(b.started_at) : null;
  const end = isFinal(b.status) && b.completed_at ? Date.parse(b.completed_at) : Date.now();
  const secs = start ? Math.max((end - start) / 1000, 0.001) : 0;
  const rate = start && b.processed ? b.processed / secs : 0;
  let eta = null;
  if (!isFinal(b.status)) {
    if (b.estimated_completion) eta = (Date.parse(b.estimated_completion) - Date.now()) / 1000;
    else if (rate > 0) eta = (b.total - b.processed) / rate;
  }
  return { rate, eta: eta === null ? null : Math.max(eta, 0) };
}

export function progressBar(b, label) {
  const pct = Math.round((b.progress ?? b.processed / b.total) * 100);
  return h(
    "div",
    { class: "bar" },
    h("progress", { max: 100, value: pct, "aria-label": label, "data-progress": pct }),
    h("span", { class: "pct" }, pct + "%")
  );
}

// Calls fn now and then about every `ms` (never more often than once a
// second) while the tab is visible; stops while it is hidden and calls fn
// again when it shows. fn returns false to stop for good, or a number of
// milliseconds to wait before the next call (at least 1000). stop() ends it.
export function poll(fn, ms = 1000) {
  ms = Math.max(ms, 1000);
  let timer = null;
  let stopped = false;
  let running = false;
  const tick = async () => {
    timer = null;
    if (stopped || document.hidden || running) return;
    running = true;
    let more = true;
    let wait = ms;
    try {
      const r = await fn();
      more = r !== false;
      if (typeof r === "number") wait = Math.max(r, 1000);
    } catch (e) {
      console.error(e);
    }
    running = false;
    if (more && !stopped && !document.hidden) timer = setTimeout(tick, wait);
    if (!more) stopped = true;
  };
  const onVis = () => {
    if (!document.hidden && !timer && !stopped) tick();
    else if (document.hidden && timer) {
      clearTimeout(timer);
      timer = null;
    }
  };
  document.addEventListener("visibilitychange", onVis);
  tick();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVis);
    },
  };
}

export function errorText(e) {
  return e && e.code ? `${e.message} (${e.code})` : String(e && e.message ? e.message : e);
}
