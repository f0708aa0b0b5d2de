// dashboard_load.mjs — times the dashboard's batches page in Debian's
// Chromium (playwright-core): from navigation to the first rendered rows,
// signed in already (the key in sessionStorage), a fresh context per run.
//   BASE (ingest), KEY, RUNS (default 7), NODE_PATH (playwright-core)
// Prints one line per run and a summary: wall ms (goto to rows seen, as
// playwright saw them) and page ms (performance.now() when the rows were
// there, i.e. since the navigation started, in the page's own clock).
import { createRequire } from "node:module";

const require = createRequire(process.env.NODE_PATH + "/");
const { chromium } = require("playwright-core");
const { BASE, KEY } = process.env;
const RUNS = Number(process.env.RUNS || 7);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
const wall = [];
const inPage = [];
try {
  for (let i = 0; i < RUNS; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await ctx.addInitScript((k) => sessionStorage.setItem("ferry.apiKey", k), KEY);
    const page = await ctx.newPage();
    const t0 = Date.now();
    await page.goto(BASE + "/#/batches", { waitUntil: "commit" });
    const handle = await page.waitForFunction(() => {
      const n = document.querySelectorAll("#batches tbody tr[data-id]").length;
      return n > 0 && { n, at: performance.now() };
    }, null, { polling: "raf", timeout: 30000 });
    const t1 = Date.now();
    const got = await handle.jsonValue();
    const shown = await page.locator("#batches").evaluate((t) => t.closest("section").textContent.match(/Page 1 · \d+ shown · \d+ ms/)?.[0] ?? "");
    wall.push(t1 - t0);
    inPage.push(got.at);
    console.log(`run ${i + 1}: ${got.n} rows; wall ${t1 - t0} ms, page ${got.at.toFixed(0)} ms (${shown})`);
    await ctx.close();
  }
} finally {
  await browser.close();
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
// The first run pays Chromium's start-up of its first renderer; the median says the rest.
console.log(`first rows: median wall ${med(wall).toFixed(0)} ms (max ${Math.max(...wall).toFixed(0)}), median page ${med(inPage).toFixed(0)} ms (max ${Math.max(...inPage).toFixed(0)}) over ${RUNS} runs`);
