/* POST /v1/crawl: a crawl is a batch of kind "crawl" whose start page is
 * item 0 and whose total grows as the aggregator's frontier accepts the
 * pages it finds (DESIGN.md, "Crawl"); validated and written as a submit
 * is, answered 202 like one. */
#include "api.h"

static void h_crawl(struct api *a, struct httpd_req *req, struct httpd_resp *resp,
                    const char *tenant)
{
    api_submit_kind(a, req, resp, tenant, SUBMISSION_CRAWL);
}

const struct api_route api_crawl_routes[] = {
    {"POST", "/v1/crawl", "crawl", h_crawl, 0, NULL},
    {NULL, NULL, NULL, NULL, 0, NULL},
};
