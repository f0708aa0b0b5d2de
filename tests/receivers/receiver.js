// A ferry webhook receiver: checks both signature schemes, then answers.
// Run: FERRY_WEBHOOK_SECRET=whsec_... PORT=8000 node receiver.js
const crypto = require("node:crypto");
const http = require("node:http");

const SECRET = process.env.FERRY_WEBHOOK_SECRET;
const TOLERANCE = 300; // seconds; an older webhook-timestamp is refused (replays)

// During a secret rotation a header carries one value per secret.
function anyEqual(header, expected) {
  const want = Buffer.from(expected);
  return (header || "").split(" ").some((v) => {
    const got = Buffer.from(v);
    return got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}

// X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the raw body>
function verifyFerry(header, body) {
  const mac = crypto.createHmac("sha256", SECRET).update(body).digest("hex");
  return anyEqual(header, "sha256=" + mac);
}

// Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
function verifyStandard(id, timestamp, header, body) {
  if (!/^\d+$/.test(timestamp || "") || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE)
    return false;
  const key = SECRET.startsWith("whsec_") ? Buffer.from(SECRET.slice(6), "base64") : Buffer.from(SECRET);
  const mac = crypto.createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return anyEqual(header, "v1," + mac);
}

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks); // raw bytes, not re-encoded
    const h = req.headers;
    const ferryOk = verifyFerry(h["x-ferry-signature"], body);
    const standardOk = verifyStandard(h["webhook-id"], h["webhook-timestamp"], h["webhook-signature"], body);
    console.log(JSON.stringify({ delivery_id: h["x-ferry-delivery"] || "", event: h["x-ferry-event"] || "",
      ferry_signature: ferryOk, standard_signature: standardOk }));
    // Deliveries are at least once: deduplicate on X-Ferry-Delivery before acting.
    res.writeHead(ferryOk && standardOk ? 200 : 401).end();
  });
}).listen(Number(process.env.PORT || 8000), process.env.HOST || "127.0.0.1");
