// Drives the dashboard (ui/) in Debian's Chromium with playwright-core, as a
// user would, and fails (exit 1) on the first thing not seen. Run by
// test_dashboard.py, which starts the pipeline and passes:
//   BASE   ingest's base URL        SITE   a local site to scrape
//   SHOTS  folder for screenshots   OTHER  a batch id of another tenant
//   HOOK   a webhook receiver's URL      SCHED  a schedule of this tenant
//   DEAD   a batch whose webhook delivery is dead (its receiver answered 410)
// Prints one JSON line per step to stdout.
import { createRequire } from "node:module";

// playwright-core lives in the test tools' folder (compose/deps.sh), named by
// NODE_PATH, which ES module imports do not read.
const require = createRequire(process.env.NODE_PATH + "/");
const { chromium } = require("playwright-core");

const { BASE, SITE, SHOTS, OTHER, HOOK, SCHED, DEAD } = process.env;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 780 };

const step = (name, extra = {}) => console.log(JSON.stringify({ step: name, ...extra }));

async function shots(page, name) {
  for (const [size, vp] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(vp);
    await page.screenshot({ path: `${SHOTS}/${name}-${size}.png`, fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: DESKTOP });
  page.setDefaultTimeout(20000);
  page.on("dialog", (d) => d.accept());
  const calls = [];
  const times = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith("/v1/")) return;
    calls.push(`${r.method()} ${u.pathname}`);
    times.push({ what: `${r.method()} ${u.pathname}`, at: Date.now() });
  });

  // Sign in: a wrong key is refused on the page, the right one kept in
  // sessionStorage only.
  await page.goto(BASE + "/");
  await page.getByLabel("API key").fill("not-a-key");
  await shots(page, "signin");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That API key is not valid.").waitFor();
  await page.getByLabel("API key").fill("key-acme");
  await page.keyboard.press("Enter"); // the form works from the keyboard
  await page.getByRole("heading", { name: "Batches", level: 1 }).waitFor();
  const stored = await page.evaluate(() => ({ s: sessionStorage.length, l: localStorage.length, c: document.cookie }));
  if (stored.s !== 1 || stored.l !== 0 || stored.c !== "") throw new Error("key storage: " + JSON.stringify(stored));
  step("signed_in");

  // Settings: the tenant's default webhook, so the batches below deliver.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByLabel("Webhook URL (empty: none)").fill(HOOK);
  await page.getByRole("button", { name: "Save webhook" }).click();
  await page.locator("#wh-msg", { hasText: "Saved." }).waitFor();
  await page.getByRole("link", { name: "Batches", exact: true }).click();
  step("webhook_set");

  // Submit three URLs by pasting them; the new batch's bar reaches 100%.
  await page.getByLabel("URLs, one per line").fill(`${SITE}/p1\n${SITE}/p2\n${SITE}/gone`);
  await page.getByRole("button", { name: "Submit" }).click();
  const accepted = await page.locator("#submit-result a").textContent();
  if (!/^bat_/.test(accepted)) throw new Error("no batch id after submit");
  const row = page.locator(`#batches tr[data-id="${accepted}"]`);
  await row.waitFor();
  await page.waitForFunction(
    (id) => {
      const r = document.querySelector(`#batches tr[data-id="${id}"]`);
      return r && r.querySelector("progress").value === 100 && r.dataset.status === "completed";
    },
    accepted,
    { timeout: 90000 }
  );
  const done = await row.locator("td").nth(4).textContent();
  if (!done.startsWith("3 / 3")) throw new Error("row shows " + done);
  step("batch_completed", { id: accepted, done });

  // The status filter asks the API for that status only.
  await page.getByLabel("Status").selectOption("failed");
  await page.getByText("No batches yet.").waitFor();
  await page.getByLabel("Status").selectOption("completed");
  await row.waitFor();
  await shots(page, "batches");
  step("filtered");

  // A batch that stays running (its page hangs): the list polls it at most
  // once a second while the tab shows, and not at all while it is hidden.
  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("URLs, one per line").fill(`${SITE}/hang`);
  await page.getByRole("button", { name: "Submit" }).click();
  const running = await page.locator("#submit-result a").textContent();
  await page.locator(`#batches tr[data-id="${running}"]`).waitFor();
  const listCalls = () => times.filter((t) => t.what === "GET /v1/batches").map((t) => t.at);
  let n0 = listCalls().length;
  await page.waitForTimeout(3500);
  const visible = listCalls().slice(n0);
  const gaps = visible.slice(1).map((t, i) => t - visible[i]);
  if (visible.length < 2 || Math.min(...gaps) < 900) throw new Error("polls while visible: " + JSON.stringify(gaps));
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await page.waitForTimeout(1200); // a request already on its way may still land
  n0 = listCalls().length;
  await page.waitForTimeout(3000);
  const hidden = listCalls().length - n0;
  if (hidden !== 0) throw new Error(`${hidden} polls while hidden`);
  await page.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await page.waitForFunction(() => true);
  const resumed = listCalls().length;
  await page.waitForTimeout(1500);
  if (listCalls().length <= resumed) throw new Error("polling did not resume when shown");
  step("polling", { gaps_ms: gaps.map(Math.round), hidden });

  // The completed batch: counts, the error breakdown, a result's formats.
  await page.getByRole("link", { name: accepted }).click();
  await page.locator("#batch-status", { hasText: "completed" }).waitFor();
  const chart = await page.locator("#error-chart").textContent();
  if (!/not_found\s*1/.test(chart)) throw new Error("error chart: " + chart);
  await page.locator('#results tr[data-index="0"]').getByRole("button", { name: "View" }).click();
  await page.getByRole("tab", { name: "markdown" }).waitFor();
  const shown = await page.locator("#tabpanel").textContent();
  if (!shown.includes("page /p1")) throw new Error("viewer shows " + shown);
  await page.getByLabel("Status", { exact: true }).selectOption("failed");
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#results tbody tr")];
    return rows.length === 1 && rows[0].dataset.status === "not_found";
  });
  // The throughput chart: the three results, two ok and one failed.
  await page.locator("#tp-chart li").first().waitFor();
  const counted = await page.locator("#tp-chart li").evaluateAll((li) =>
    li.reduce((s, x) => [s[0] + Number(x.dataset.ok), s[1] + Number(x.dataset.failed)], [0, 0]));
  if (counted[0] !== 2 || counted[1] !== 1) throw new Error("throughput chart counts " + counted);
  // Drawn, not only counted: the fullest column's bars fill the chart.
  const tallest = await page.locator("#tp-chart li span").evaluateAll((s) => Math.max(...s.map((x) => x.getBoundingClientRect().height)));
  if (tallest < 40) throw new Error("throughput columns are " + tallest + " px tall");
  await shots(page, "batch");
  step("result_viewed", { throughput: counted });

  // Deliveries: the webhook's attempt, then a replay and its new attempt.
  await page.locator('#deliveries tr[data-outcome="delivered"]').first().waitFor({ timeout: 30000 });
  await page.getByRole("button", { name: "Replay the last webhook" }).click();
  await page.locator("#deliveries-msg", { hasText: "Replay queued" }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#deliveries tr[data-outcome="delivered"]').length >= 2, null, { timeout: 30000 });
  step("replayed");
  // The request an attempt POSTed: its headers and the exact body.
  await page.locator('#deliveries tr[data-outcome="delivered"]').first().getByRole("button", { name: /^Request of attempt / }).click();
  await page.locator("#request-body").waitFor();
  const body = await page.locator("#request-body").getAttribute("data-raw");
  const event = await page.locator("#request-headers tr", { hasText: "X-Ferry-Event" }).locator("td").textContent();
  if (!body.includes(accepted) || event !== "batch.completed") throw new Error(`request shows ${event}: ${body.slice(0, 200)}`);
  await shots(page, "deliveries");
  step("request", { body });

  // Dead letters: the dead delivery across batches, replayed from its row;
  // once its new attempt is delivered it leaves the list.
  await page.getByRole("link", { name: "Dead letters" }).click();
  const deadRow = page.locator(`#dead tr[data-batch="${DEAD}"]`);
  await deadRow.waitFor();
  const delivery = await deadRow.getAttribute("data-delivery");
  if (!/410/.test(await deadRow.textContent())) throw new Error("dead row: " + (await deadRow.textContent()));
  await shots(page, "dead");
  await deadRow.getByRole("button", { name: /^Replay / }).click();
  await page.locator("#dead-msg", { hasText: "Replay queued" }).waitFor();
  await page.locator("#dead-total", { hasText: "0 dead deliveries" }).waitFor({ timeout: 30000 });
  step("dead", { delivery });

  // Rotate the secret: shown once, then only its state.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Rotate secret" }).click();
  const secret = await page.locator("#new-secret").textContent();
  if (!/^whsec_/.test(secret)) throw new Error("secret shown: " + secret);
  await page.locator("#secret-state", { hasText: "A tenant secret signs" }).waitFor();
  await page.locator("#usage-chart li").first().waitFor();
  await shots(page, "settings");
  await page.reload(); // shown once: not on the page again
  await page.locator("#secret-state", { hasText: "A tenant secret signs" }).waitFor();
  if (await page.locator("#new-secret").count()) throw new Error("secret shown again");
  step("rotated", { secret });

  // Schedules: pause one, run it now, open the run's batch.
  await page.getByRole("link", { name: "Schedules" }).click();
  const sched = page.locator(`#schedules tr[data-id="${SCHED}"]`);
  await sched.locator("text=active").waitFor();
  await sched.getByRole("button", { name: /^Pause / }).click();
  await page.locator(`#schedules tr[data-id="${SCHED}"][data-paused="true"]`).waitFor();
  await page.locator(`#schedules tr[data-id="${SCHED}"]`).getByRole("button", { name: /^Run .* now$/ }).click();
  const run = await page.locator("#sched-msg a").textContent();
  if (!/^bat_/.test(run)) throw new Error("run now gave " + run);
  // Its past runs: the run just started is listed, linking to its batch.
  await page.getByRole("button", { name: /^Runs of / }).first().waitFor();
  await page.locator(`#schedules tr[data-id="${SCHED}"]`).getByRole("button", { name: /^Runs of / }).click();
  await page.locator(`#runs-table tr[data-batch="${run}"]`).waitFor();
  await shots(page, "schedules");
  await page.locator("#sched-msg a").click();
  await page.locator("#batch-status", { hasText: "completed" }).waitFor({ timeout: 60000 });
  step("schedule", { run });

  // A rendered page's screenshot, shown inline in the result viewer (the
  // page fetches GET /v1/files with the key).
  await page.getByRole("link", { name: "Batches", exact: true }).click();
  await page.getByLabel("URLs, one per line").fill(`${SITE}/p4`);
  await page.getByRole("checkbox", { name: "screenshot" }).check();
  await page.getByRole("button", { name: "Submit" }).click();
  await page.locator("#submit-result a").click();
  await page.locator("#batch-status", { hasText: "completed" }).waitFor({ timeout: 90000 });
  await page.locator('#results tr[data-index="0"]').getByRole("button", { name: "View" }).click();
  await page.getByRole("tab", { name: "screenshot" }).click();
  await page.waitForFunction(() => {
    const img = document.querySelector("#shot");
    return img && img.complete && img.naturalWidth > 0;
  });
  const size = await page.locator("#shot").evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  await shots(page, "result-screenshot");
  step("screenshot", { size });

  // Another tenant's batch is refused like an unknown one.
  await page.goto(`${BASE}/#/batch/${OTHER}`);
  await page.locator("#not-found").waitFor();
  await shots(page, "other-tenant");
  step("other_refused");

  console.log(JSON.stringify({ step: "done", calls: [...new Set(calls)] }));
} finally {
  await browser.close();
}
