"""Writes the scrape benchmark's pages: N HTML files p0.html .. p<N-1>.html,
sizes log-uniform between 2 and 50 KB (most pages small, a few large, as on
the web), article-shaped markup with varied words. Prints the mean size."""
import math
import random
import sys

out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = ("kafka partition offset broker consumer producer record batch stream log "
         "latency throughput replica leader follower commit transaction schema topic "
         "the a of to and in is for on with as by at from").split()
total = 0
for i in range(n):
    size = int(math.exp(rnd.uniform(math.log(2048), math.log(50 * 1024))))
    head = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Page {i}</title>"
            f"<meta name=\"description\" content=\"bench page {i}\"></head><body><article><h1>Page {i}</h1>")
    parts = [head]
    n_bytes = len(head)
    while n_bytes < size - 40:
        para = "<p>" + " ".join(rnd.choice(words) for _ in range(rnd.randint(20, 60))) + \
               f" <a href=\"/p{rnd.randrange(n)}.html\">next</a></p>\n"
        parts.append(para)
        n_bytes += len(para)
    parts.append("</article></body></html>\n")
    body = "".join(parts)
    total += len(body)
    with open(f"{out}/p{i}.html", "w") as f:
        f.write(body)
print(f"{total / n / 1024:.1f}")
