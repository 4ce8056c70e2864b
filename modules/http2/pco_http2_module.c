/*
 * pco_http2_module.c: the http2 module's descriptor and settings. conf_done registers the
 * HTTP/2 listener hook with the http module (pco_http_h2_register): `http2 = true` listeners
 * hand it the connections whose client chose h2 by ALPN or began with the HTTP/2 preface.
 * The settings bound what one connection may cost (streams, windows, the header list) and
 * how long it may sit idle; a connection takes those of its address's default server.
 */
#include "pco_http2_int.h"
#include "pco_conf.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_shm.h"

#define PCO_H2C(f)  offsetof(pco_http2_conf_t, f)

static int pco_http2_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);

static const pco_setting_t pco_http2_settings[] = {
    { .name = "http2_max_concurrent_streams", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_INT, .offset = PCO_H2C(max_concurrent_streams), .def = "128",
      .min = 1, .max = 65536,
      .help = "streams a client may have open on one HTTP/2 connection (SETTINGS_MAX_"
              "CONCURRENT_STREAMS); one more is refused (RST_STREAM REFUSED_STREAM) until "
              "the client acknowledged the setting, then ends the connection (GOAWAY "
              "PROTOCOL_ERROR)" },
    { .name = "http2_initial_window_size", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_SIZE, .offset = PCO_H2C(initial_window_size), .def = "\"64k\"",
      .min = 1024, .max = 16 << 20,
      .help = "request body bytes a stream may send ahead of what its upstream has taken "
              "(SETTINGS_INITIAL_WINDOW_SIZE): the memory an upload holds at most" },
    { .name = "http2_connection_window_size", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_SIZE, .offset = PCO_H2C(connection_window_size), .def = "\"1m\"",
      .min = 65535, .max = 256 << 20,
      .help = "request body bytes all the streams of a connection may hold together" },
    { .name = "http2_max_header_list_size", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_SIZE, .offset = PCO_H2C(max_header_list_size), .def = "\"32k\"",
      .min = 1024, .max = 1 << 20,
      .help = "decoded size of a request's header list (names, values and 32 bytes per "
              "field, as HTTP/2 counts it); beyond it the request is answered 431" },
    { .name = "http2_rapid_reset_limit", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_INT, .offset = PCO_H2C(rapid_reset_limit), .def = "200",
      .min = 1, .max = 1000000,
      .help = "streams a client may cancel, or make us reset by a stream error, before "
              "their response is complete within 10 s; beyond it the connection ends with "
              "GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487, CVE-2025-8671)" },
    { .name = "http2_idle_timeout", .scopes = PCO_SCOPE_HTTP | PCO_SCOPE_SERVER,
      .type = PCO_CONF_DURATION, .offset = PCO_H2C(idle_timeout), .def = "\"75s\"",
      .min = 1, .max = PCO_CONF_DAY,
      .help = "an HTTP/2 connection with no request in progress this long (a stream still "
              "receiving its head counts as none) is closed with GOAWAY" },
    PCO_SETTINGS_END
};

/*
 * Hooks: conf_done (master, -t too) registers the HTTP/2 listener hook. The connections
 * themselves need no per-worker state beyond what each holds.
 */
pco_module_t pco_http2_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "http2",
    .settings = pco_http2_settings,
    .conf_size = sizeof(pco_http2_conf_t),
    .conf_done = pco_http2_conf_done,
};

static int
pco_http2_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    static const pco_http_h2_hooks_t  hooks = { pco_http2_conn_start };
    pco_http2_main_t                 *h2m = pco_pcalloc(cf->pool, sizeof(*h2m));

    if (h2m == NULL) {
        return PCO_ERROR;
    }
    h2m->c_active = pco_counter_register(cf, cycle, "http2_connections_active",
                                         PCO_COUNTER_GAUGE);
    h2m->c_total = pco_counter_register(cf, cycle, "http2_connections_total",
                                        PCO_COUNTER_MONOTONIC);
    h2m->c_calm = pco_counter_register(cf, cycle, "http2_connections_calm",
                                       PCO_COUNTER_MONOTONIC);
    cycle->module_ctx[pco_http2_module.index] = h2m;
    return pco_http_h2_register(cf, cycle, &pco_http2_module, &hooks);
}

const pco_http2_main_t *
pco_http2_main(void)
{
    return pco_cycle->module_ctx[pco_http2_module.index];
}

const pco_http2_conf_t *
pco_http2_conf(const pco_listening_t *ls)
{
    pco_http_server_t  *s = pco_http_listener_default_server(ls);

    return pco_conf_get(s->node, &pco_http2_module);
}
