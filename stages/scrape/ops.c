#include "ops.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* MHD binds at start-up but keeps the option table's pointer: static. */
static struct sockaddr_in bind_addr;

int ops_start(struct httpd_ops *ops, const char *listen, httpd_ready_fn ready, void *arg,
              char *errstr, size_t errstr_size)
{
    memset(ops, 0, sizeof(*ops));
    if (httpd_parse_listen(listen, &bind_addr, errstr, errstr_size))
        return -1;
    if (ulfius_init_instance(&ops->inst, ntohs(bind_addr.sin_port), &bind_addr, NULL) != U_OK) {
        snprintf(errstr, errstr_size, "ulfius init failed for %s", listen);
        return -1;
    }
    /* The two options ulfius requires of this entry point, and the bind
     * address its plain start would have passed. */
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
        {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
        {MHD_OPTION_SOCK_ADDR, 0, &bind_addr},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (httpd_add_ops_routes(&ops->inst, ready, arg) ||
        ulfius_start_framework_with_mhd_options(&ops->inst, flags, opts) != U_OK) {
        snprintf(errstr, errstr_size, "cannot listen on %s", listen);
        ulfius_clean_instance(&ops->inst);
        return -1;
    }
    ops->started = 1;
    return 0;
}
