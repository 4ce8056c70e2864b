/*
 * pco_http2_module.c: the http2 module's descriptor. The module is groundwork for now: it
 * carries the request-head validation (pco_http2_head.c) and the nghttp2 session wrapper
 * (pco_http2_session.c), both driven and tested through memory only. No listener offers h2
 * yet, so the descriptor registers nothing: no settings, no hooks.
 */
#include "pco_core.h"
#include "pco_module.h"

pco_module_t pco_http2_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "http2",
};
