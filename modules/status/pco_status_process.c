/*
 * pco_status_process.c: the status document's TLS, health and process families, from
 * counters other parts of portico keep (core/pco_shm.h) and the upstream module's shared
 * per-server state. Prometheus families:
 *   portico_tls_handshakes_total{listener}, portico_tls_handshakes_resumed_total{listener},
 *   portico_tls_handshake_failures_total{listener,reason}: the tls module's counters
 *     tls_handshakes:ADDR, tls_resumed:ADDR and tls_failures:REASON:ADDR;
 *   portico_tls_ocsp_fetches_total{result="ok"|"failed"}: its counters tls_ocsp_fetches_ok
 *     and tls_ocsp_fetches_failed, when OCSP responses are fetched;
 *   portico_upstream_server_check_state{upstream,server} (1 up, 0 down) and
 *   portico_upstream_server_check_last_change_timestamp_seconds{upstream,server}: the
 *     servers of upstreams with a health_check (not `down` ones);
 *   portico_build_info{version,openssl,pcre2,zlib,libconfig[,nghttp2]} 1,
 *   portico_process_start_time_seconds, portico_config_generation,
 *   portico_config_last_reload_success_timestamp_seconds (core/pco_procstat.h),
 *   portico_process_open_fds{kind}, portico_process_resident_memory_bytes{kind}: the
 *     counters process_open_fds:KIND and process_rss_bytes:KIND.
 * JSON: "tls" (an object keyed by listener), "tls_ocsp" ({"fetches_ok", "fetches_failed"},
 * kept out of "tls" so that every key of "tls" stays a listener), "health" (a list of
 * servers) and "process".
 * Runs in a worker, reads only; never blocks.
 */
#include "pco_status.h"
#include "pco_auto_config.h"
#include <openssl/crypto.h>
#include <zlib.h>
#include <libconfig.h>
#include <stdio.h>
#include <string.h>
#if (PCO_HAVE_NGHTTP2)
#include <nghttp2/nghttp2.h>
#endif

/* The TLS failure reasons, in the order the JSON object lists them. */
static const char *const pco_status_tls_reasons[] = {
    "no_shared_cipher", "unknown_sni", "bad_client_cert", "protocol", "other"
};

static int64_t
pco_status_proc_read(const char *name)
{
    int  id = pco_counter_find(name);

    return id >= 0 ? pco_counter_read(id) : 0;
}

/* Calls fn for every counter whose name starts with prefix, with the rest of the name. */
static void
pco_status_proc_each(const char *prefix, void (*fn)(void *arg, const char *rest, int id),
                     void *arg)
{
    size_t  plen = strlen(prefix);
    int     id, n = pco_counter_count();

    for (id = 0; id < n; id++) {
        const char  *name = pco_counter_name(id);

        if (name != NULL && strncmp(name, prefix, plen) == 0) {
            fn(arg, name + plen, id);
        }
    }
}

/* ---- TLS ---- */

typedef struct {
    pco_status_buf_t  *b;
    const char        *family;
    bool               comma;
} pco_status_proc_walk_t;

/* The HELP and TYPE lines of family, then fn for each counter PREFIX... (its samples). */
static void
pco_status_proc_family(pco_status_proc_walk_t *w, const char *family, const char *type,
                       const char *help, const char *prefix,
                       void (*fn)(void *arg, const char *rest, int id))
{
    w->family = family;
    pco_status_prom_family(w->b, family, type, help);
    pco_status_proc_each(prefix, fn, w);
}

/* JSON: "REST":{"KEY1":N1,"KEY2":N2 (the object left open) for the counter id named
 * PREFIX1REST, N2 being the counter PREFIX2REST. */
static void
pco_status_json_pair(pco_status_proc_walk_t *w, const char *rest, int id, const char *key1,
                     const char *prefix2, const char *key2)
{
    char  name[PCO_COUNTER_NAME_LEN + 32];

    pco_status_buf_cstr(w->b, w->comma ? "," : "");
    w->comma = true;
    pco_status_json_string(w->b, (const u_char *) rest, strlen(rest));
    pco_status_buf_cstr(w->b, ":{");
    pco_status_json_key(w->b, key1, pco_counter_read(id), false);
    snprintf(name, sizeof(name), "%s%s", prefix2, rest);
    pco_status_json_key(w->b, key2, pco_status_proc_read(name), true);
}

static void
pco_status_prom_tls_one(void *arg, const char *rest, int id)
{
    pco_status_proc_walk_t  *w = arg;
    pco_status_label_t       l[2];
    const char              *colon;

    if (strcmp(w->family, "tls_handshake_failures_total") != 0) {
        l[0].name = "listener";
        l[0].value = pco_status_cstr(rest);
        pco_status_prom_int(w->b, w->family, l, 1, pco_counter_read(id));
        return;
    }
    colon = strchr(rest, ':');          /* REASON:ADDR */
    if (colon == NULL) {
        return;
    }
    l[0].name = "listener";
    l[0].value = pco_status_cstr(colon + 1);
    l[1].name = "reason";
    l[1].value.data = (u_char *) rest;
    l[1].value.len = (size_t) (colon - rest);
    pco_status_prom_int(w->b, w->family, l, 2, pco_counter_read(id));
}

/* The ocsp helper's fetches (modules/tls/pco_tls_ocsp_fetch.c). Its counters exist once a
 * configuration has had a certificate to fetch a response for (not for ocsp_file alone);
 * counters live as long as the master, so a reload that drops OCSP keeps the family. */
static bool
pco_status_have_ocsp(void)
{
    return pco_counter_find("tls_ocsp_fetches_ok") >= 0;
}

static void
pco_status_prom_ocsp(pco_status_buf_t *b)
{
    pco_status_label_t  l[1];

    if (!pco_status_have_ocsp()) {
        return;
    }
    pco_status_prom_family(b, "tls_ocsp_fetches_total", "counter",
                           "OCSP responses fetched for stapling, by result (ok: verified and "
                           "shared with the workers; failed).");
    l[0].name = "result";
    l[0].value = pco_status_cstr("ok");
    pco_status_prom_int(b, "tls_ocsp_fetches_total", l, 1,
                        pco_status_proc_read("tls_ocsp_fetches_ok"));
    l[0].value = pco_status_cstr("failed");
    pco_status_prom_int(b, "tls_ocsp_fetches_total", l, 1,
                        pco_status_proc_read("tls_ocsp_fetches_failed"));
}

static void
pco_status_json_ocsp(pco_status_buf_t *b)
{
    if (!pco_status_have_ocsp()) {
        return;
    }
    pco_status_buf_cstr(b, ",\"tls_ocsp\":{");
    pco_status_json_key(b, "fetches_ok", pco_status_proc_read("tls_ocsp_fetches_ok"), false);
    pco_status_json_key(b, "fetches_failed", pco_status_proc_read("tls_ocsp_fetches_failed"),
                        true);
    pco_status_buf_cstr(b, "}");
}

static void
pco_status_prom_tls(pco_status_buf_t *b)
{
    pco_status_proc_walk_t  w = { b, NULL, false };

    pco_status_proc_family(&w, "tls_handshakes_total", "counter",
                           "Completed TLS handshakes per listener (resumed ones included).",
                           "tls_handshakes:", pco_status_prom_tls_one);
    pco_status_proc_family(&w, "tls_handshakes_resumed_total", "counter",
                           "Completed TLS handshakes that resumed a session.",
                           "tls_resumed:", pco_status_prom_tls_one);
    pco_status_proc_family(&w, "tls_handshake_failures_total", "counter",
                           "Failed or refused TLS handshakes per listener by reason.",
                           "tls_failures:", pco_status_prom_tls_one);
    pco_status_prom_ocsp(b);
}

static void
pco_status_json_tls_one(void *arg, const char *rest, int id)
{
    pco_status_proc_walk_t  *w = arg;
    char                     name[PCO_COUNTER_NAME_LEN + 32];
    size_t                   i;

    pco_status_json_pair(w, rest, id, "handshakes", "tls_resumed:", "resumed");
    pco_status_buf_cstr(w->b, ",\"failures\":{");
    for (i = 0; i < pco_nelems(pco_status_tls_reasons); i++) {
        snprintf(name, sizeof(name), "tls_failures:%s:%s", pco_status_tls_reasons[i], rest);
        pco_status_buf_cstr(w->b, i > 0 ? ",\"" : "\"");
        pco_status_buf_cstr(w->b, pco_status_tls_reasons[i]);
        pco_status_buf_cstr(w->b, "\":");
        pco_status_buf_int(w->b, pco_status_proc_read(name));
    }
    pco_status_buf_cstr(w->b, "}}");
}

/* ---- health ---- */

/* Calls fn for every server of an upstream with a health_check (each upstream server
 * once: two equal addresses in one upstream share their counters). */
static void
pco_status_health_each(const pco_status_ctx_t *ctx,
                       void (*fn)(void *arg, const pco_upstream_t *u,
                                  const pco_upstream_server_t *s), void *arg)
{
    uint8_t  seen[PCO_COUNTERS_MAX / 8];
    size_t   i, j;
    int      id;

    memset(seen, 0, sizeof(seen));
    for (i = 0; i < ctx->nupstreams; i++) {
        const pco_status_upstream_t  *su = &ctx->upstreams[i];

        if (su->u->health_check == NULL) {
            continue;
        }
        for (j = 0; j < su->u->nservers; j++) {
            const pco_upstream_server_t  *s = su->servers[j].s;

            id = su->servers[j].tries;
            if (s->down || s->shared == NULL) {
                continue;
            }
            if (id >= 0 && id < PCO_COUNTERS_MAX) {
                if (seen[id / 8] & (1u << (id % 8))) {
                    continue;
                }
                seen[id / 8] |= (uint8_t) (1u << (id % 8));
            }
            fn(arg, su->u, s);
        }
        /* servers added at run time (admin API, resolver) are checked too */
        for (j = su->u->nservers; j < pco_upstream_npos(su->u); j++) {
            const pco_upstream_server_t  *s = &su->u->servers[j];

            if (s->shared != NULL && pco_status_stats_first(su->u, (unsigned) j)) {
                fn(arg, su->u, s);
            }
        }
    }
}

static int64_t
pco_status_health_state(const pco_upstream_server_t *s)
{
    return __atomic_load_n(&s->shared->health_down, __ATOMIC_RELAXED) == 0;
}

static int64_t
pco_status_health_changed(const pco_upstream_server_t *s)
{
    return (int64_t) __atomic_load_n(&s->shared->hc_changed, __ATOMIC_RELAXED);
}

static void
pco_status_prom_health_one(void *arg, const pco_upstream_t *u, const pco_upstream_server_t *s)
{
    pco_status_proc_walk_t  *w = arg;
    pco_status_label_t       l[2];
    bool                     state = strcmp(w->family, "upstream_server_check_state") == 0;

    l[0].name = "upstream";
    l[0].value = u->name;
    l[1].name = "server";
    l[1].value = s->name;
    pco_status_prom_int(w->b, w->family, l, 2,
                        state ? pco_status_health_state(s) : pco_status_health_changed(s));
}

static void
pco_status_prom_health(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_proc_walk_t  w = { b, NULL, false };

    w.family = "upstream_server_check_state";
    pco_status_prom_family(b, w.family, "gauge",
                           "What the active health checks say now: 1 up, 0 down.");
    pco_status_health_each(ctx, pco_status_prom_health_one, &w);
    w.family = "upstream_server_check_last_change_timestamp_seconds";
    pco_status_prom_family(b, w.family, "gauge",
                           "Unix time the active health checks last flipped the server "
                           "up or down (0: not since the start).");
    pco_status_health_each(ctx, pco_status_prom_health_one, &w);
}

static void
pco_status_json_health_one(void *arg, const pco_upstream_t *u, const pco_upstream_server_t *s)
{
    pco_status_proc_walk_t  *w = arg;

    pco_status_buf_cstr(w->b, w->comma ? ",{\"upstream\":" : "{\"upstream\":");
    w->comma = true;
    pco_status_json_string(w->b, u->name.data, u->name.len);
    pco_status_buf_cstr(w->b, ",\"server\":");
    pco_status_json_string(w->b, s->name.data, s->name.len);
    pco_status_buf_cstr(w->b, ",\"state\":");
    pco_status_buf_int(w->b, pco_status_health_state(s));
    pco_status_buf_cstr(w->b, ",\"last_change\":");
    pco_status_buf_int(w->b, pco_status_health_changed(s));
    pco_status_buf_cstr(w->b, "}");
}

/* ---- process ---- */

typedef struct {
    const char  *name;
    const char  *value;
} pco_status_build_t;

/* The versions portico runs with (the libraries' own, as loaded). */
static size_t
pco_status_build(pco_status_build_t *out, char *pcre, size_t size)
{
    static char  lc[32];
    size_t       n = 0;
    char        *sp;

    snprintf(lc, sizeof(lc), "%d.%d.%d", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
             LIBCONFIG_VER_REVISION);
    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0 || size < 32) {
        snprintf(pcre, size, "unknown");
    }
    sp = strchr(pcre, ' ');
    if (sp != NULL) {
        *sp = '\0';               /* "10.42 2022-12-11": the version only */
    }
    out[n++] = (pco_status_build_t) { "version", PCO_VERSION_STR };
    out[n++] = (pco_status_build_t) { "openssl", OpenSSL_version(OPENSSL_VERSION_STRING) };
    out[n++] = (pco_status_build_t) { "pcre2", pcre };
    out[n++] = (pco_status_build_t) { "zlib", zlibVersion() };
    out[n++] = (pco_status_build_t) { "libconfig", lc };
#if (PCO_HAVE_NGHTTP2)
    out[n++] = (pco_status_build_t) { "nghttp2", nghttp2_version(0)->version_str };
#endif
    return n;
}

static void
pco_status_prom_kinds(void *arg, const char *rest, int id)
{
    pco_status_proc_walk_t  *w = arg;
    pco_status_label_t       l[1];

    l[0].name = "kind";
    l[0].value = pco_status_cstr(rest);
    pco_status_prom_int(w->b, w->family, l, 1, pco_counter_read(id));
}

static void
pco_status_prom_process(pco_status_buf_t *b)
{
    pco_status_build_t      v[8];
    pco_status_label_t      l[8];
    pco_status_proc_walk_t  w = { b, NULL, false };
    char                    pcre[64];
    size_t                  i, n;

    n = pco_status_build(v, pcre, sizeof(pcre));
    for (i = 0; i < n; i++) {
        l[i].name = v[i].name;
        l[i].value = pco_status_cstr(v[i].value);
    }
    pco_status_prom_family(b, "build_info", "gauge",
                           "Always 1; the labels name the version of portico and of the "
                           "libraries it runs with.");
    pco_status_prom_int(b, "build_info", l, n, 1);
    pco_status_prom_family(b, "process_start_time_seconds", "gauge",
                           "Unix time the master process started.");
    pco_status_prom_int(b, "process_start_time_seconds", NULL, 0,
                        pco_status_proc_read("process_start_time_seconds"));
    pco_status_prom_family(b, "config_generation", "gauge",
                           "Configuration generation: 1 at start, +1 per successful reload.");
    pco_status_prom_int(b, "config_generation", NULL, 0,
                        pco_status_proc_read("config_generation"));
    pco_status_prom_family(b, "config_last_reload_success_timestamp_seconds", "gauge",
                           "Unix time of the last successful reload (0: none yet).");
    pco_status_prom_int(b, "config_last_reload_success_timestamp_seconds", NULL, 0,
                        pco_status_proc_read("config_reload_last_success_seconds"));
    pco_status_proc_family(&w, "process_open_fds", "gauge",
                           "Open file descriptors, summed over the processes of each kind.",
                           "process_open_fds:", pco_status_prom_kinds);
    pco_status_proc_family(&w, "process_resident_memory_bytes", "gauge",
                           "Resident memory in bytes, summed over the processes of each kind.",
                           "process_rss_bytes:", pco_status_prom_kinds);
}

static void
pco_status_json_kinds(void *arg, const char *rest, int id)
{
    pco_status_proc_walk_t  *w = arg;

    pco_status_json_pair(w, rest, id, "open_fds", "process_rss_bytes:",
                         "resident_memory_bytes");
    pco_status_buf_cstr(w->b, "}");
}

static void
pco_status_json_process(pco_status_buf_t *b)
{
    pco_status_build_t      v[8];
    pco_status_proc_walk_t  w = { b, NULL, false };
    char                    pcre[64];
    size_t                  i, n;

    n = pco_status_build(v, pcre, sizeof(pcre));
    pco_status_buf_cstr(b, ",\"process\":{\"build\":{");
    for (i = 0; i < n; i++) {
        pco_status_buf_cstr(b, i > 0 ? "," : "");
        pco_status_json_string(b, (const u_char *) v[i].name, strlen(v[i].name));
        pco_status_buf_cstr(b, ":");
        pco_status_json_string(b, (const u_char *) v[i].value, strlen(v[i].value));
    }
    pco_status_buf_cstr(b, "},\"start_time\":");
    pco_status_buf_int(b, pco_status_proc_read("process_start_time_seconds"));
    pco_status_buf_cstr(b, ",\"config_generation\":");
    pco_status_buf_int(b, pco_status_proc_read("config_generation"));
    pco_status_buf_cstr(b, ",\"last_reload\":");
    pco_status_buf_int(b, pco_status_proc_read("config_reload_last_success_seconds"));
    pco_status_buf_cstr(b, ",\"kinds\":{");
    pco_status_proc_each("process_open_fds:", pco_status_json_kinds, &w);
    pco_status_buf_cstr(b, "}}");
}

/* ---- entry points ---- */

void
pco_status_process_prometheus(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_prom_tls(b);
    pco_status_prom_health(ctx, b);
    pco_status_prom_process(b);
}

void
pco_status_process_json(const pco_status_ctx_t *ctx, pco_status_buf_t *b)
{
    pco_status_proc_walk_t  w = { b, NULL, false };

    pco_status_buf_cstr(b, ",\"tls\":{");
    pco_status_proc_each("tls_handshakes:", pco_status_json_tls_one, &w);
    pco_status_buf_cstr(b, "}");
    pco_status_json_ocsp(b);
    pco_status_buf_cstr(b, ",\"health\":[");
    w.comma = false;
    pco_status_health_each(ctx, pco_status_json_health_one, &w);
    pco_status_buf_cstr(b, "]");
    pco_status_json_process(b);
}
