"""Checking captured webhook requests the way receivers do, for tests that
need to know which secret a delivery verifies with:

    seed_verify(secret, req)      the seeds' Python snippet (hmac.compare_digest
                                  of X-Ferry-Signature), taking each space-separated
                                  value as the README's receivers do
    standard_verify(secret, reqs) the Standard Webhooks library (npm), one result
                                  per request

`req` is a conftest.Received (headers lower-cased, raw body)."""

import base64
import hashlib
import hmac
import json
import os
import subprocess

from conftest import ROOT

NODE_PATH = ROOT / "compose" / ".cache" / "npm" / "node_modules"


def seed_verify(secret, req):
    expected = "sha256=" + hmac.new(secret.encode(), req.body, hashlib.sha256).hexdigest()
    header = req.headers.get("x-ferry-signature", "")
    return any(hmac.compare_digest(expected, v) for v in header.split(" "))


def standard_verify(secret, reqs):
    lines = "".join(json.dumps({
        "secret": secret,
        "headers": {k: req.headers.get(k, "") for k in
                    ("webhook-id", "webhook-timestamp", "webhook-signature")},
        "body_b64": base64.b64encode(req.body).decode(),
    }) + "\n" for req in reqs)
    out = subprocess.run(["node", str(ROOT / "tests" / "integration" / "swh_verify.js")],
                         input=lines.encode(), capture_output=True, timeout=60, check=True,
                         env=dict(os.environ, NODE_PATH=str(NODE_PATH)))
    return [x == "true" for x in out.stdout.decode().split()]


def verifies(secret, req):
    """Both schemes verify with `secret`."""
    return seed_verify(secret, req) and standard_verify(secret, [req])[0]
