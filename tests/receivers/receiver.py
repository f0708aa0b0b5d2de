"""A ferry webhook receiver: checks both signature schemes, then answers.
Run: FERRY_WEBHOOK_SECRET=whsec_... PORT=8000 python3 receiver.py"""
import base64, hashlib, hmac, json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["FERRY_WEBHOOK_SECRET"]
TOLERANCE = 300  # seconds; an older webhook-timestamp is refused (replays)


def any_equal(header, expected):
    # During a secret rotation a header carries one value per secret.
    return any(hmac.compare_digest(expected, v) for v in header.split())


def verify_ferry(header, body):
    # X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the raw body>
    mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return any_equal(header, "sha256=" + mac)


def verify_standard(msg_id, timestamp, header, body):
    # Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.body">
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    key = base64.b64decode(SECRET[6:]) if SECRET.startswith("whsec_") else SECRET.encode()
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return any_equal(header, "v1," + base64.b64encode(mac).decode())


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))  # raw, not re-encoded
        h = lambda name: self.headers.get(name, "")
        ferry_ok = verify_ferry(h("X-Ferry-Signature"), body)
        standard_ok = verify_standard(h("webhook-id"), h("webhook-timestamp"),
                                      h("webhook-signature"), body)
        print(json.dumps({"delivery_id": h("X-Ferry-Delivery"), "event": h("X-Ferry-Event"),
                          "ferry_signature": ferry_ok, "standard_signature": standard_ok}),
              flush=True)
        # Deliveries are at least once: deduplicate on X-Ferry-Delivery before acting.
        self.send_response(200 if ferry_ok and standard_ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", "8000"))),
           Receiver).serve_forever()
