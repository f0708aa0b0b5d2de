"""The webhook receiver examples of the README (tests/receivers/: Python, Node,
Go, PHP) against real deliveries from the real stages: each verifies both
signature schemes of what deliver sends, with a generated whsec_ secret and
with a plain one, refuses forgeries, and accepts a header with two values
(a secret rotation). The README shows these files byte for byte."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ROOT, free_port, http, wait_until
from pipeline import Site, start_pipeline

DIR = ROOT / "tests" / "receivers"
FILES = {"python": "receiver.py", "node": "receiver.js", "go": "receiver.go",
         "php": "receiver.php"}


def test_readme_shows_the_receiver_files_as_they_are():
    readme = (ROOT / "README.md").read_text()
    blocks = dict(re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", readme, re.S))
    for name in FILES.values():
        path = f"tests/receivers/{name}"
        assert path in blocks, f"README has no block for {path}"
        assert blocks[path] == (DIR / name).read_text(), f"README's {path} differs from the file"


class Running:
    """One receiver process; its stdout lines parsed as JSON as they come."""

    def __init__(self, lang, secret, tmp_path):
        port = free_port()
        env = dict(os.environ, FERRY_WEBHOOK_SECRET=secret, PORT=str(port), HOST="127.0.0.1")
        if lang == "python":
            cmd = ["python3", str(DIR / FILES[lang])]
        elif lang == "node":
            cmd = ["node", str(DIR / FILES[lang])]
        elif lang == "go":
            exe = tmp_path / "receiver-go"
            if not exe.exists():
                subprocess.run(["go", "build", "-o", str(exe), str(DIR / FILES[lang])],
                               check=True, capture_output=True, timeout=300,
                               env=dict(os.environ, GO111MODULE="off"))
            cmd = [str(exe)]
        else:
            cmd = ["php", "-S", f"127.0.0.1:{port}", str(DIR / FILES[lang])]
        self.lang = lang
        self.secret = secret
        self.url = f"http://127.0.0.1:{port}/hooks/ferry"
        self.lines = []
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()

        def up():
            try:
                return http("POST", self.url, b"{}", timeout=2).status == 401
            except OSError:
                return False

        wait_until(up, timeout=30, what=f"the {lang} receiver")

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith(b"{"):
                self.lines.append(json.loads(line))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def _langs():
    have = {"python": "python3", "node": "node", "go": "go", "php": "php"}
    return [lang for lang, exe in have.items() if shutil.which(exe)]


def _signed(secret, body, msg_id, ts=None):
    ts = str(ts or int(time.time()))
    f = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    s = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body,
                                          hashlib.sha256).digest()).decode()
    return {"X-Ferry-Signature": f, "webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": s, "X-Ferry-Delivery": msg_id, "X-Ferry-Event": "batch.completed",
            "Content-Type": "application/json"}


def test_receivers_verify_real_deliveries(start_stage, tmp_path):
    langs = _langs()
    # Python, Node and Go are on every machine; PHP comes with compose/deps.sh.
    assert {"python", "node", "go"} <= set(langs), langs
    p = start_pipeline(start_stage)
    plain = "a-plain-secret-of-32-characters!"
    running = []
    try:
        with Site() as site:
            jobs = []
            for lang in langs:
                # one receiver keyed by a generated whsec_ secret, one by a plain secret
                gen = Running(lang, "whsec_" + base64.b64encode(os.urandom(24)).decode(), tmp_path)
                pl = Running(lang, plain, tmp_path)
                running += [gen, pl]
                a = p.submit({"urls": [f"{site.url}/p1", f"{site.url}/p2"],
                              "webhook_url": gen.url, "webhook_secret": gen.secret})
                b = p.submit({"urls": [f"{site.url}/p3"], "webhook_url": pl.url,
                              "webhook_secret": plain})
                jobs += [(gen, a["id"]), (pl, b["id"])]
            for rcv, bid in jobs:
                got = wait_until(lambda: [x for x in rcv.lines if x["event"] == "batch.completed"],
                                 timeout=90, what=f"{rcv.lang} receiver's delivery of {bid}")
                assert got[0]["ferry_signature"] is True, (rcv.lang, got)
                assert got[0]["standard_signature"] is True, (rcv.lang, got)
                assert got[0]["delivery_id"].startswith("dlv_")
                d = p.wait_final(bid, webhook=True)  # it answered 2xx: delivered
                assert d["webhook"]["attempts"] == 1

        # forgeries are refused; a rotation's two values are accepted
        body = b'{"id":"bat_x","status":"completed"}'
        for rcv in running:
            secret = rcv.secret
            good = _signed(secret, body, "dlv_forge")
            n = len(rcv.lines)
            assert http("POST", rcv.url, body, good).status == 200, rcv.lang
            assert http("POST", rcv.url, body + b" ", good).status == 401, rcv.lang
            bad = _signed("whsec_" + "B" * 44, body, "dlv_forge")
            rot = dict(good, **{
                "X-Ferry-Signature": bad["X-Ferry-Signature"] + " " + good["X-Ferry-Signature"],
                "webhook-signature": bad["webhook-signature"] + " " + good["webhook-signature"]})
            assert http("POST", rcv.url, body, rot).status == 200, rcv.lang
            assert http("POST", rcv.url, body, bad).status == 401, rcv.lang
            old = _signed(secret, body, "dlv_forge", ts=int(time.time()) - 3600)
            assert http("POST", rcv.url, body, old).status == 401, rcv.lang
            lines = wait_until(lambda: rcv.lines[n:] if len(rcv.lines) >= n + 5 else None,
                               timeout=10, what=f"{rcv.lang} receiver's lines")
            assert [(x["ferry_signature"], x["standard_signature"]) for x in lines] == [
                (True, True), (False, False), (True, True), (False, False), (True, False)
            ], (rcv.lang, lines)
    finally:
        for r in running:
            r.stop()


