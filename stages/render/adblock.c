#include "adblock.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ad servers, trackers and analytics that pages load from third-party
 * hosts; matching covers their subdomains. */
static const char *const builtin[] = {
    "2mdn.net",
    "33across.com",
    "360yield.com",
    "3lift.com",
    "adcolony.com",
    "addthis.com",
    "adform.net",
    "adnxs.com",
    "adroll.com",
    "adsafeprotected.com",
    "adsrvr.org",
    "adservice.google.com",
    "adskeeper.co.uk",
    "adtechus.com",
    "advertising.com",
    "amazon-adsystem.com",
    "amplitude.com",
    "app-measurement.com",
    "appsflyer.com",
    "bidswitch.net",
    "bing-analytics.com",
    "bluekai.com",
    "bounceexchange.com",
    "branch.io",
    "casalemedia.com",
    "chartbeat.com",
    "chartbeat.net",
    "clarity.ms",
    "criteo.com",
    "criteo.net",
    "crwdcntrl.net",
    "demdex.net",
    "doubleclick.net",
    "doubleverify.com",
    "everesttech.net",
    "exelator.com",
    "eyeota.net",
    "facebook.net",
    "fullstory.com",
    "google-analytics.com",
    "googleadservices.com",
    "googlesyndication.com",
    "googletagmanager.com",
    "googletagservices.com",
    "gumgum.com",
    "hotjar.com",
    "hotjar.io",
    "hs-analytics.net",
    "imasdk.googleapis.com",
    "indexww.com",
    "inmobi.com",
    "krxd.net",
    "lijit.com",
    "mathtag.com",
    "media.net",
    "mediavine.com",
    "mixpanel.com",
    "moatads.com",
    "mookie1.com",
    "mouseflow.com",
    "openx.net",
    "optimizely.com",
    "outbrain.com",
    "pagead2.googlesyndication.com",
    "pubmatic.com",
    "quantcast.com",
    "quantserve.com",
    "rlcdn.com",
    "rubiconproject.com",
    "scorecardresearch.com",
    "segment.io",
    "serving-sys.com",
    "sharethrough.com",
    "smartadserver.com",
    "sonobi.com",
    "spotxchange.com",
    "taboola.com",
    "tapad.com",
    "teads.tv",
    "tiqcdn.com",
    "tremorhub.com",
    "tribalfusion.com",
    "turn.com",
    "yieldmo.com",
    "zedo.com",
    "zemanta.com",
    "ads-twitter.com",
    "ads.linkedin.com",
    "analytics.tiktok.com",
    "analytics.twitter.com",
    "bat.bing.com",
    "connect.facebook.net",
    "static.ads-twitter.com",
    "stats.wp.com",
    "px.ads.linkedin.com",
    "adsymptotic.com",
    "adition.com",
    "adhigh.net",
    "agkn.com",
    "contextweb.com",
    "districtm.io",
    "emxdgt.com",
    "id5-sync.com",
    "liadm.com",
    "onetag-sys.com",
    "postrelease.com",
    "pubmine.com",
    "richaudience.com",
    "seedtag.com",
    "smaato.net",
    "sovrn.com",
    "springserve.com",
    "stackadapt.com",
    "undertone.com",
    "unrulymedia.com",
    "yahoo-analytics.net",
    "yieldlab.net",
};

struct adblock {
    char **hosts; /* sorted, lower case */
    size_t n, cap;
};

static void add(struct adblock *ab, const char *host, size_t len)
{
    if (!len || len > 253)
        return;
    if (ab->n == ab->cap) {
        ab->cap = ab->cap ? ab->cap * 2 : 256;
        ab->hosts = realloc(ab->hosts, ab->cap * sizeof(*ab->hosts));
        if (!ab->hosts)
            abort();
    }
    char *h = strndup(host, len);
    if (!h)
        abort();
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    ab->hosts[ab->n++] = h;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line of a list file: "host", "0.0.0.0 host" or "127.0.0.1 host",
 * with an optional # comment. */
static void add_line(struct adblock *ab, char *line)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = '\0';
    char *words[2];
    int n = 0;
    for (char *p = line; *p && n < 2;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        words[n++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    const char *host = n == 2 ? words[1] : n == 1 ? words[0] : NULL;
    /* Hosts files also map the machine's own names ("127.0.0.1
     * localhost"): those lines are not about ads. */
    if (!host || (n == 2 && strcmp(host, "localhost") == 0))
        return;
    add(ab, host, strlen(host));
}

struct adblock *adblock_load(const char *file, char *errstr, size_t errstr_size)
{
    struct adblock *ab = calloc(1, sizeof(*ab));
    if (!ab)
        abort();
    for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
        add(ab, builtin[i], strlen(builtin[i]));
    if (file && file[0]) {
        FILE *fp = fopen(file, "r");
        if (!fp) {
            snprintf(errstr, errstr_size, "%s: %s", file, strerror(errno));
            adblock_free(ab);
            return NULL;
        }
        char line[1024];
        while (fgets(line, sizeof(line), fp))
            add_line(ab, line);
        fclose(fp);
    }
    qsort(ab->hosts, ab->n, sizeof(*ab->hosts), cmp);
    return ab;
}

void adblock_free(struct adblock *ab)
{
    if (!ab)
        return;
    for (size_t i = 0; i < ab->n; i++)
        free(ab->hosts[i]);
    free(ab->hosts);
    free(ab);
}

int adblock_match(const struct adblock *ab, const char *host)
{
    char h[256];
    size_t len = strlen(host);
    if (!ab || !len || len >= sizeof(h))
        return 0;
    for (size_t i = 0; i <= len; i++)
        h[i] = (char)tolower((unsigned char)host[i]);
    if (len && h[len - 1] == '.')
        h[--len] = '\0'; /* "doubleclick.net." is the same host */
    /* The host itself, then each parent domain. */
    for (const char *p = h; p; p = strchr(p, '.') ? strchr(p, '.') + 1 : NULL) {
        const char *key = p;
        if (bsearch(&key, ab->hosts, ab->n, sizeof(*ab->hosts), cmp))
            return 1;
    }
    return 0;
}

size_t adblock_size(const struct adblock *ab)
{
    return ab ? ab->n : 0;
}
