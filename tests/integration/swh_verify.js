// Verifies captured webhook requests with the Standard Webhooks library
// (npm `standardwebhooks`, installed by compose/deps.sh), as a receiver using
// it would: one JSON object per stdin line, {"secret", "headers", "body_b64"};
// prints one line per request, "true" or "false". A secret without the whsec_
// prefix is its raw bytes (ferry's rule, the library's "raw" format).
const { Webhook } = require("standardwebhooks");
const lines = require("node:fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
for (const line of lines) {
  const { secret, headers, body_b64 } = JSON.parse(line);
  const body = Buffer.from(body_b64, "base64").toString("utf8");
  let ok = true;
  try {
    const raw = !secret.startsWith("whsec_");
    new Webhook(raw ? Buffer.from(secret) : secret, raw ? { format: "raw" } : undefined).verify(
      body,
      headers,
    );
  } catch (e) {
    ok = false;
  }
  console.log(ok ? "true" : "false");
}
