"""The generated crawl site (crawl_site.py) is what the crawl tests measure
against, so its model is checked here against what it actually serves: a
small reference crawler in Python reads robots.txt, the sitemaps and every
page's links over HTTP, folds spellings with the rule ferry documents
(shared/crawlurl.h), and must arrive at exactly site.expected(), fetching
each page once. No broker, no ferry stage."""

import gzip
import http.client
import re
import xml.etree.ElementTree as ET
from collections import deque
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest

from crawl_site import CrawlSite

UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def pct_normalize(s):
    """Percent-encoding as crawlurl normalizes it (RFC 3986 §6.2.2)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "%" and re.fullmatch(r"[0-9A-Fa-f]{2}", s[i + 1:i + 3] or ""):
            ch = chr(int(s[i + 1:i + 3], 16))
            out.append(ch if ch in UNRESERVED else "%" + s[i + 1:i + 3].upper())
            i += 3
            continue
        if c == "%" or ord(c) <= 0x20 or ord(c) >= 0x7F or c in '"<>\\^`{|}':
            out.append("".join(f"%{b:02X}" for b in c.encode()))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def page_key(url):
    """The page key of crawlurl.h: no scheme, host without www., default port
    and fragment dropped, index file and trailing slashes dropped."""
    p = urlsplit(url.strip())
    host = (p.hostname or "").rstrip(".")
    if host.startswith("www.") and len(host) > 4:
        host = host[4:]
    port = p.port
    if port in (80, 443) and {80: "http", 443: "https"}[port] == p.scheme:
        port = None
    path = pct_normalize(p.path) or "/"
    last = path.rsplit("/", 1)
    if len(last) == 2 and last[1] in ("index.html", "index.htm", "index.php"):
        path = last[0] + "/"
    while len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    query = pct_normalize(p.query)
    return f"{host}{':' + str(port) if port else ''}{path}{'?' + query if query else ''}"


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.base = None
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "base" and self.base is None and a.get("href") is not None:
            self.base = a["href"]
        if tag in ("a", "area") and a.get("href") is not None:
            self.hrefs.append(a["href"])


def fetch(url, redirects=5):
    """(status, final url, body bytes). Every *.localhost name is 127.0.0.1
    (as libcurl resolves it; the system resolver may not know www.localhost)."""
    for _ in range(redirects + 1):
        p = urlsplit(url)
        assert p.hostname == "localhost" or p.hostname.endswith(".localhost"), url
        conn = http.client.HTTPConnection("127.0.0.1", p.port or 80, timeout=10)
        target = (p.path or "/") + ("?" + p.query if p.query else "")
        conn.request("GET", target, headers={"Host": p.netloc})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status in (301, 302, 303, 307, 308):
            url = urljoin(url, r.getheader("Location"))
            continue
        return r.status, url, body
    raise AssertionError(f"too many redirects at {url}")


def robots_rules(text, product="ferry"):
    """(allow, pattern) rules of our group (enough for this site's file)."""
    rules, ours, in_agents, sitemaps = [], False, False, []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        k, v = (x.strip() for x in line.split(":", 1))
        k = k.lower()
        if k == "user-agent":
            if not in_agents:
                ours = False
            in_agents = True
            ours = ours or v.lower() == product
        elif k in ("allow", "disallow"):
            in_agents = False
            if ours and v:
                rules.append((k == "allow", v))
        elif k == "sitemap":
            sitemaps.append(v)
    return rules, sitemaps


def robots_allowed(rules, path):
    best = {True: -1, False: -1}
    for allow, pat in rules:
        rx = re.escape(pat).replace(r"\*", ".*")
        if pat.endswith("$"):
            rx = rx[:-2] + "$"
        if re.match(rx, path):
            best[allow] = max(best[allow], len(pat))
    return best[False] <= best[True]


def reference_crawl(start, max_depth=10, sitemap="include", robots=True):
    """{url: (depth, status, final url)} of what a crawl must fetch."""
    start_parts = urlsplit(start)
    site_port = start_parts.port

    def in_scope(url):
        p = urlsplit(url)
        host = (p.hostname or "").removeprefix("www.")
        return p.scheme in ("http", "https") and host == "localhost" and p.port == site_port

    status, _, body = fetch(urljoin(start, "/robots.txt"))
    rules, robots_sitemaps = robots_rules(body.decode()) if status == 200 else ([], [])
    seen, order, result = set(), deque(), {}

    def accept(url, depth, found_on):
        key = page_key(url)
        if key in seen or not in_scope(url) or depth > max_depth:
            return
        seen.add(key)
        order.append((url, depth))

    accept(start, 0, None)
    if sitemap in ("include", "only"):
        queue = [urljoin(start, "/sitemap.xml")] + robots_sitemaps
        while queue:
            status, _, body = fetch(queue.pop(0))
            if status != 200:
                continue
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            root = ET.fromstring(body)
            ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
            for loc in root.iter(ns + "loc"):
                if root.tag == ns + "sitemapindex":
                    queue.append(loc.text.strip())
                else:
                    accept(loc.text.strip(), 1, None)
    follow = sitemap != "only"
    while order:
        url, depth = order.popleft()
        p = urlsplit(url)
        path = pct_normalize(p.path or "/") + ("?" + p.query if p.query else "")
        if robots and not robots_allowed(rules, path):
            result[url] = (depth, "robots_blocked", None)
            continue
        status, final, body = fetch(url)
        if status == 404:
            result[url] = (depth, "not_found", final)
            continue
        assert status == 200, (url, status)
        result[url] = (depth, "ok", final)
        if in_scope(final):
            seen.add(page_key(final))  # a redirect's landing is this page too
        if not follow or depth >= max_depth:
            continue
        links = Links()
        links.feed(body.decode())
        base = urljoin(final, links.base) if links.base else final
        for href in links.hrefs:
            href = href.strip()
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", href) and \
                    not re.match(r"^https?:", href, re.I):
                continue
            target = urljoin(base, quote(href, safe="%/:=&?~#+!$,;'@()*[]"))
            accept(target.split("#", 1)[0], depth + 1, url)
    return result


@pytest.mark.parametrize("pages,opts", [
    (2000, {}),
    (600, {"max_depth": 3}),
    (600, {"sitemap": "skip"}),
    (600, {"robots": False}),
])
def test_reference_crawl_matches_model(pages, opts):
    site = CrawlSite(pages=pages)
    with site.serve() as srv:
        got = reference_crawl(srv.start_url, **opts)
        want = site.expected(**opts)
        got_pages = {}
        for url, (depth, status, _) in got.items():
            page = site.page_of(url)
            assert page is not None, url
            assert page not in got_pages, f"{page} fetched under two spellings"
            got_pages[page] = (depth, status)
        assert got_pages == want
        # each page that was fetched was fetched once, nothing else was
        fetched = {p for p, (_, s) in want.items() if s != "robots_blocked"}
        redirected = {f"r{p[2:]}" for p in fetched if p.startswith("go")}
        assert set(srv.hits) == fetched | redirected
        assert all(n == 1 for n in srv.hits.values()), srv.hits.most_common(3)
        assert not srv.external_hits
    # the site is a few thousand pages with everything the crawl tests need
    assert len(want) > pages // 2
    kinds = {re.sub(r"\d+", "", p) for p in want}
    if not opts:
        assert kinds >= {"home", "s", "p", "private", "popen", "go", "missing", "o", "oo", "m"}
        assert "hidden" not in kinds


def test_site_serves_spellings_and_infrastructure():
    site = CrawlSite(pages=200)
    with site.serve() as srv:
        base = srv.start_url.rstrip("/")
        www = base.replace("localhost", "www.localhost")
        # one page, many spellings: each GET counted against that page
        for u in (f"{base}/s/3/", f"{base}/s/3", f"{base}/s/3/index.php", f"{www}/s/3/index.htm"):
            status, _, body = fetch(u)
            assert status == 200 and b"<h1>s3</h1>" in body
        assert srv.hits["s3"] == 4
        status, final, body = fetch(f"{base}/p/%31%32/")
        assert status == 200 and b"<h1>p12</h1>" in body and b'<base href="/p/">' in body
        # redirects inside the site
        status, final, body = fetch(f"{base}/go/1")
        assert status == 200 and final.endswith("/r/1") and b"<h1>go1</h1>" in body
        assert srv.hits["go1"] == 1 and srv.hits["r1"] == 1
        assert fetch(f"{base}/missing/0")[0] == 404
        assert fetch(f"{base}/nothing/here")[0] == 404
        # robots.txt: everything disallowed for *, /private/ for ferry
        status, _, body = fetch(f"{base}/robots.txt")
        rules, sitemaps = robots_rules(body.decode())
        assert robots_allowed(rules, "/p/1") and not robots_allowed(rules, "/private/0")
        assert robots_allowed(rules, "/private/open/0")
        assert not robots_allowed(robots_rules(body.decode(), "otherbot")[0] or
                                  [(False, "/")], "/p/1")
        assert sitemaps == [f"{base}/sitemap_index.xml"]
        # the sitemap index points at gzip sitemaps that list the orphans
        status, _, body = fetch(sitemaps[0])
        locs = [e.text for e in ET.fromstring(body).iter() if e.tag.endswith("loc")]
        assert len(locs) == site.orphan_files
        orphans = set()
        for loc in locs:
            status, _, gz = fetch(loc)
            assert gz[:2] == b"\x1f\x8b"
            orphans |= {site.page_of(e.text) for e in ET.fromstring(gzip.decompress(gz)).iter()
                        if e.tag.endswith("loc")}
        assert orphans == {f"o{j}" for j in range(site.n_orphan)}
        # another site, counted apart
        fetch(f"http://other.localhost:{srv.port}/x")
        assert srv.external_hits["other.localhost"] == 1
        assert srv.robots_hits["localhost"] == 1


def test_page_key_folds_what_crawlurl_folds():
    same = ["http://localhost:8/p/1", "https://www.localhost:8/p/1/", "http://LOCALHOST:8/p/%31",
            "http://localhost:8/p/1/index.html#x", "http://localhost:8/p/1?"]
    assert len({page_key(u) for u in same}) == 1
    apart = ["http://localhost:8/P/1", "http://localhost:8/p/1?a=1", "http://localhost:9/p/1"]
    assert len({page_key(u) for u in apart + same[:1]}) == 4
