"""A generated web site to crawl, and what a correct crawl of it fetches.

    site = CrawlSite(pages=2000, seed=13)
    with site.serve() as srv:                  # 127.0.0.1, port srv.port
        ... crawl srv.start_url ...            # http://localhost:PORT/
        want = site.expected(max_depth=10)     # {page id: (depth, status)}
        srv.hits                               # Counter: page id -> GETs served
        srv.agent_hits                         # Counter: (page id, User-Agent) -> GETs
        srv.robots_hits, srv.external_hits     # Counter: host -> GETs

The site answers for three host names, all on 127.0.0.1 (libcurl resolves
*.localhost to the loopback address by itself, RFC 6761): `localhost` and
`www.localhost` serve the same site; `other.localhost` is "another site"
whose pages a crawl must not fetch (counted in external_hits).

What is in it (every link is written in one of several spellings of the
same page; the router below maps any spelling back to its page id, so a
page fetched twice under two spellings shows up as hits[page] == 2):

  home       /  (also /index.html)
  s<k>       section pages /s/<k>/, also /s/<k>, /s/<k>/index.html|.htm|.php
  p<n>       /p/<n> (also /p/<n>/, /p/<n>/index.html, encoded digits); a
             heap-shaped tree under each section plus random cross links
             (cycles, links back home); a <base href="/p/"> makes relative
             links like "7" and "../p/7" resolve the same whatever spelling
             the page itself was fetched under
  private<m> /private/<m>: disallowed for ferry by robots.txt; links to
  hidden<m>  /hidden/<m>, reachable only through private pages
  popen<m>   /private/open/<m>: allowed again by a longer Allow rule
  go<i>      /go/<i>: 301 to /r/<i>, a page reached only through that redirect
  back<i>    /back/<i>: linked only from /r/<i>, links straight to /r/<i> (the
             page a crawl already has, under the URL the redirect landed on)
  missing<i> /missing/<i>: 404
  o<j>       /o/<j>: listed only in a gzip sitemap (robots.txt Sitemap: line
             -> sitemap index -> /sitemaps/orphans-<n>.xml.gz); links to
  oo<j>      /oo/<j>, linked only from orphans
  m<j>       /m/<j>: listed only in /sitemap.xml (which also lists known
             pages, an external URL and a disallowed one)
  external   http://other.localhost:PORT/..., mailto:, javascript:, tel:

robots.txt disallows everything for "*" and only /private/ (except
/private/open/) for "ferry", so a crawler that matched the wrong group
would fetch nothing.

expected() computes, by breadth-first search over the page graph, which
pages a crawl with the given options has a result for, at what depth (link
hops from the start page; sitemap entries count as depth 1), and with what
status (ok, not_found, robots_blocked). Python only, no dependencies.
"""

import gzip
import random
import re
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

INDEX_NAMES = ("index.html", "index.htm", "index.php")


class CrawlSite:
    def __init__(self, pages=2000, seed=13, sections=20, crawl_delay=None, flaky=()):
        self.n = pages
        self.flaky = set(flaky)  # pages that answer 503 to their first request
        self.sections = sections
        self.crawl_delay = crawl_delay
        rnd = random.Random(seed)
        self.n_private = max(2, pages // 50)
        self.n_redirect = max(2, pages // 30)
        self.n_missing = max(2, pages // 60)
        self.n_orphan = max(2, pages // 20)
        self.n_msite = max(2, pages // 40)
        self.orphan_files = 2
        # out[page] = [(target page id, kind of spelling)]
        self.out = {}
        per = (pages + sections - 1) // sections
        self.section_range = [(k * per, min(pages, (k + 1) * per)) for k in range(sections)]
        self.out["home"] = [(f"s{k}", "section") for k in range(sections)]
        self.out["home"] += [(f"p{rnd.randrange(pages)}", "page") for _ in range(5)]
        self.out["home"] += [("external", "external"), ("junk", "junk")]
        for k, (a, b) in enumerate(self.section_range):
            links = [("home", "home")]
            if a < b:
                links.append((f"p{a}", "page"))
            links.append((f"s{(k + 1) % sections}", "section"))
            self.out[f"s{k}"] = links
        for k, (a, b) in enumerate(self.section_range):
            for n in range(a, b):
                i = n - a
                links = [(f"p{a + c}", "page") for c in (2 * i + 1, 2 * i + 2) if a + c < b]
                links += [(f"p{rnd.randrange(pages)}", "page") for _ in range(3)]
                links += [("home", "home"), (f"s{k}", "section")]
                if n % 50 == 7:
                    links.append((f"private{(n // 50) % self.n_private}", "private"))
                if n % 70 == 3:
                    links.append((f"popen{(n // 70) % self.n_private}", "popen"))
                if n % 30 == 11:
                    links.append((f"go{(n // 30) % self.n_redirect}", "go"))
                if n % 60 == 13:
                    links.append((f"missing{(n // 60) % self.n_missing}", "missing"))
                if n % 40 == 17:
                    links.append(("external", "external"))
                links.append(("junk", "junk"))
                self.out[f"p{n}"] = links
        for m in range(self.n_private):
            self.out[f"private{m}"] = [(f"hidden{m}", "hidden"), ("home", "home")]
            self.out[f"hidden{m}"] = [(f"p{(m * 13) % pages}", "page")]
            self.out[f"popen{m}"] = [(f"p{(m * 17) % pages}", "page")]
        for i in range(self.n_redirect):
            # /go/<i> answers 301; the page it lands on (/r/<i>) has these links
            self.out[f"go{i}"] = [(f"p{(i * 7) % pages}", "page"), ("home", "home"),
                                  (f"back{i}", "back")]
            self.out[f"back{i}"] = [(f"go{i}", "landing")]
        for i in range(self.n_missing):
            self.out[f"missing{i}"] = []
        for j in range(self.n_orphan):
            self.out[f"o{j}"] = [(f"oo{j}", "orphan2"), (f"p{(j * 11) % pages}", "page")]
            self.out[f"oo{j}"] = [("home", "home")]
        for j in range(self.n_msite):
            self.out[f"m{j}"] = [(f"p{(j * 19) % pages}", "page")]
        self.spelling_rnd_seed = seed

    # ------------------------------------------------------------ the model

    def sitemap_pages(self, start_host="localhost"):
        """The in-scope pages the sitemaps list (both files), in order."""
        out = ["home", "p0", "p1"] + [f"m{j}" for j in range(self.n_msite)]
        out += ["private0"]
        out += [f"o{j}" for j in range(self.n_orphan)]
        return out

    def status(self, page, robots=True):
        if page.startswith("private") and robots:
            return "robots_blocked"
        if page.startswith("missing"):
            return "not_found"
        return "ok"

    def expected(self, max_depth=10, sitemap="include", robots=True, follow_links=True):
        """{page id: (depth, status)} of every page the crawl has a result
        for: breadth-first from home (depth 0), sitemap entries at depth 1,
        no links followed out of a page that is not fetched (robots_blocked,
        not_found), nothing deeper than max_depth."""
        depth = {"home": 0}
        queue = deque(["home"])
        if sitemap in ("include", "only"):
            for page in self.sitemap_pages():
                if page not in depth and max_depth >= 1:
                    depth[page] = 1
                    queue.append(page)
        if sitemap == "only" or not follow_links:
            queue.clear()
        while queue:
            page = queue.popleft()
            if self.status(page, robots) != "ok" or depth[page] >= max_depth:
                continue
            for target, _ in self.out[page]:
                if target in ("external", "junk") or target in depth:
                    continue
                depth[target] = depth[page] + 1
                queue.append(target)
        return {p: (d, self.status(p, robots)) for p, d in depth.items()}

    # ------------------------------------------------------------ spellings

    def path_of(self, page):
        """The plain path of a page."""
        for prefix, fmt in (("private", "/private/{}"), ("popen", "/private/open/{}"),
                            ("hidden", "/hidden/{}"), ("missing", "/missing/{}"),
                            ("go", "/go/{}"), ("back", "/back/{}"), ("oo", "/oo/{}"), ("o", "/o/{}"),
                            ("m", "/m/{}"), ("s", "/s/{}/"), ("p", "/p/{}")):
            if page.startswith(prefix) and page[len(prefix):].isdigit():
                return fmt.format(page[len(prefix):])
        assert page == "home", page
        return "/"

    def _spell(self, rnd, target, kind, port, relative):
        """One way of writing a link to target (rnd picks which); relative
        spellings only where a <base href="/p/"> fixes what they mean."""
        host = f"localhost:{port}"
        if kind == "external":
            return rnd.choice([f"http://other.localhost:{port}/x/{rnd.randrange(100)}",
                               f"http://other.localhost:{port}/"])
        if kind == "junk":
            junk = ["mailto:team@localhost", "javascript:void(0)", "tel:+15550100",
                    "data:text/plain,hi"]
            if not relative:  # under <base href="/p/">, "" and "#top" name /p/ itself
                junk += ["#top", ""]
            return rnd.choice(junk)
        if kind == "landing":  # where /go/<i> redirects to
            return f"/r/{target[2:]}"
        if kind == "home":
            return rnd.choice(["/", "/index.html", f"http://www.{host}/", f"HTTP://LOCALHOST:{port}",
                               "/#main", "/?"])
        if kind == "section":
            k = target[1:]
            return rnd.choice([f"/s/{k}/", f"/s/{k}", f"/s/{k}/index.html", f"/s/{k}/index.htm",
                               f"/s/{k}/index.php", f"http://www.{host}/s/{k}/#x"])
        if kind == "page":
            n = target[1:]
            enc = "".join(f"%{ord(c):02x}" for c in n)
            spellings = [f"/p/{n}", f"/p/{n}/", f"/p/{n}#s{rnd.randrange(5)}",
                         f"http://www.{host}/p/{n}", f"HTTP://LocalHost:{port}/p/{n}",
                         f"/p/{enc}", f"/p/{n}?", f"/p/{n}/index.html", f"  /p/{n}  "]
            if relative:
                spellings += [f"{n}", f"../p/{n}", f"./{n}/"]
            return rnd.choice(spellings)
        return self.path_of(target)

    def html(self, page, port):
        """The page's HTML (deterministic per page and port)."""
        rnd = random.Random(f"{self.spelling_rnd_seed}/{page}")
        relative = re.fullmatch(r"p\d+", page) is not None
        links = [self._spell(rnd, t, kind, port, relative) for t, kind in self.out[page]]
        base = '<base href="/p/">' if relative else ""
        items = "\n".join(f'<li><a href="{h}">link {i}</a></li>' for i, h in enumerate(links))
        return (f"<!DOCTYPE html><html><head><title>{page}</title>{base}</head>"
                f"<body><h1>{page}</h1><ul>\n{items}\n</ul></body></html>")

    def robots_txt(self, port):
        delay = f"Crawl-delay: {self.crawl_delay}\n" if self.crawl_delay is not None else ""
        return ("User-agent: *\nDisallow: /\n\n"
                "User-agent: ferry\nDisallow: /private/\nAllow: /private/open/\n" + delay +
                f"\nSitemap: http://localhost:{port}/sitemap_index.xml\n")

    def sitemap_xml(self, port):
        locs = [f"http://localhost:{port}/", f"http://www.localhost:{port}/p/0/",
                f"http://localhost:{port}/p/1"]
        locs += [f"http://localhost:{port}/m/{j}" for j in range(self.n_msite)]
        locs += [f"http://localhost:{port}/private/0",
                 f"http://other.localhost:{port}/from-sitemap"]
        body = "".join(f"<url><loc>{u}</loc></url>\n" for u in locs)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"{body}</urlset>\n")

    def sitemap_index(self, port):
        body = "".join(f"<sitemap><loc>http://localhost:{port}/sitemaps/orphans-{f}.xml.gz"
                       f"</loc></sitemap>\n" for f in range(self.orphan_files))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"{body}</sitemapindex>\n")

    def orphan_sitemap(self, f, port):
        locs = [f"http://localhost:{port}/o/{j}" for j in range(self.n_orphan)
                if j % self.orphan_files == f]
        body = "".join(f"<url><loc>{u}</loc></url>\n" for u in locs)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n'
               '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
               f"{body}</urlset>\n")
        return gzip.compress(xml.encode(), mtime=0)

    # --------------------------------------------------------------- router

    _routes = [
        (re.compile(r"^/(index\.html?|index\.php)?$"), lambda m: "home"),
        (re.compile(r"^/s/(\d+)(/(index\.html?|index\.php)?)?$"), lambda m: f"s{int(m[1])}"),
        (re.compile(r"^/p/(\d+)(/(index\.html?|index\.php)?)?$"), lambda m: f"p{int(m[1])}"),
        (re.compile(r"^/private/open/(\d+)/?$"), lambda m: f"popen{int(m[1])}"),
        (re.compile(r"^/private/(\d+)/?$"), lambda m: f"private{int(m[1])}"),
        (re.compile(r"^/hidden/(\d+)/?$"), lambda m: f"hidden{int(m[1])}"),
        (re.compile(r"^/go/(\d+)/?$"), lambda m: f"go{int(m[1])}"),
        (re.compile(r"^/r/(\d+)/?$"), lambda m: f"r{int(m[1])}"),
        (re.compile(r"^/back/(\d+)/?$"), lambda m: f"back{int(m[1])}"),
        (re.compile(r"^/missing/(\d+)/?$"), lambda m: f"missing{int(m[1])}"),
        (re.compile(r"^/oo/(\d+)/?$"), lambda m: f"oo{int(m[1])}"),
        (re.compile(r"^/o/(\d+)/?$"), lambda m: f"o{int(m[1])}"),
        (re.compile(r"^/m/(\d+)/?$"), lambda m: f"m{int(m[1])}"),
    ]

    def page_of(self, url_or_path):
        """The page id any spelling of a URL of this site names (the query
        and fragment ignored, percent-encoding decoded), or None."""
        parts = urlsplit(url_or_path.strip())
        path = unquote(parts.path) or "/"
        for rx, name in self._routes:
            m = rx.match(path)
            if m:
                page = name(m)
                known = page in self.out or (page.startswith("r") and
                                             f"go{page[1:]}" in self.out)
                return page if known else None
        return None

    @contextmanager
    def serve(self, port=0):
        srv = _SiteServer(self, port)
        t = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
        t.start()
        try:
            yield srv
        finally:
            srv.httpd.shutdown()
            srv.httpd.server_close()
            t.join(5)


class _Server(ThreadingHTTPServer):
    # A crawler opens many connections at once; the default backlog of 5
    # drops SYNs under a burst, and a dropped SYN costs the client a 1 s,
    # then 3 s retransmit: a tail that is the harness's, not the crawl's.
    request_queue_size = 1024


class _SiteServer:
    def __init__(self, site, port):
        self.site = site
        self.hits = Counter()
        self.agent_hits = Counter()
        self.robots_hits = Counter()
        self.sitemap_hits = Counter()
        self.external_hits = Counter()
        self.requests = []  # (host, path) in order
        self.page_times = []  # (host, page, time.monotonic()) of each page request
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server._handle(self)

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.start_url = f"http://localhost:{self.port}/"

    def _send(self, h, code, body, ctype="text/html; charset=utf-8", headers=()):
        if isinstance(body, str):
            body = body.encode()
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h):
        site, port = self.site, self.port
        host = (h.headers.get("Host") or "").split(":")[0].lower()
        path = urlsplit(h.path).path
        with self.lock:
            self.requests.append((host, h.path))
        if host == "other.localhost":
            with self.lock:
                self.external_hits[host] += 1
            return self._send(h, 200, "<html><body>another site</body></html>")
        if host not in ("localhost", "www.localhost"):
            return self._send(h, 404, "unknown host")
        if path == "/robots.txt":
            with self.lock:
                self.robots_hits[host] += 1
            return self._send(h, 200, site.robots_txt(port), "text/plain")
        if path == "/sitemap.xml":
            with self.lock:
                self.sitemap_hits[(host, path)] += 1
            return self._send(h, 200, site.sitemap_xml(port), "application/xml")
        if path == "/sitemap_index.xml":
            with self.lock:
                self.sitemap_hits[(host, path)] += 1
            return self._send(h, 200, site.sitemap_index(port), "application/xml")
        m = re.match(r"^/sitemaps/orphans-(\d+)\.xml\.gz$", path)
        if m and int(m[1]) < site.orphan_files:
            with self.lock:
                self.sitemap_hits[(host, path)] += 1
            return self._send(h, 200, site.orphan_sitemap(int(m[1]), port), "application/gzip")
        page = site.page_of(h.path)
        if page is None:
            return self._send(h, 404, "<html><body>no such page</body></html>")
        with self.lock:
            self.hits[page] += 1
            self.agent_hits[(page, h.headers.get("User-Agent", ""))] += 1
            self.page_times.append((host, page, time.monotonic()))
            first = self.hits[page] == 1
        if page in site.flaky and first:
            return self._send(h, 503, "<html><body>busy</body></html>", headers=[("Retry-After", "1")])
        if page.startswith("go"):
            return self._send(h, 301, "", headers=[("Location", f"/r/{page[2:]}")])
        if page.startswith("missing"):
            return self._send(h, 404, "<html><body>gone</body></html>")
        if page.startswith("r"):
            return self._send(h, 200, site.html(f"go{page[1:]}", port))
        return self._send(h, 200, site.html(page, port))
