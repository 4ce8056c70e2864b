/*
 * pco_cycle.c: one configuration generation and the core module.
 *
 * pco_core_module declares the top-level settings (daemon, worker_processes, user, group,
 * pid, error_log, ...) into pco_core_conf_t, checks them in conf_done (the user and the
 * group exist when we run as root, "debug" only in a --with-debug build) and registers the
 * master's counters "reloads", "reloads_failed" and "worker_restarts" and the process facts
 * (pco_procstat.h; each helper kind's when pco_helper_add declares it). pco_cycle_create
 * loads a configuration and runs every module's conf_done then conf_final; nothing in it
 * has side effects outside the cycle's pool, so -t, -s and a rejected reload leave the
 * running generation untouched. The error log is opened in a separate step
 * (pco_cycle_open_log) for a real start or reload.
 */
#include "pco_core.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_syslog.h"
#include "pco_shm.h"
#include "pco_listen.h"
#include "pco_process.h"
#include "pco_procstat.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>

static int pco_core_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_core_conf_final(pco_conf_t *cf, pco_cycle_t *cycle);

pco_cycle_t  *pco_cycle;

/* The same order as in docs/settings.md; pco_core_log_level() maps an index to PCO_LOG_*. */
static const char *const  pco_core_levels[] = {
    "debug", "info", "notice", "warn", "error", "crit", "alert", NULL
};

static const unsigned  pco_core_level_map[] = {
    PCO_LOG_DEBUG, PCO_LOG_INFO, PCO_LOG_NOTICE, PCO_LOG_WARN, PCO_LOG_ERR, PCO_LOG_CRIT,
    PCO_LOG_ALERT
};

#define pco_core_elog_off(field)                                                 \
    (offsetof(pco_core_conf_t, error_log.field) - offsetof(pco_core_conf_t, error_log))

static const pco_setting_t  pco_core_error_log_settings[] = {
    { .name = "path", .type = PCO_CONF_STRING, .offset = pco_core_elog_off(path),
      .def = "\"" PCO_ERROR_LOG_PATH "\"",
      .help = "error log file, relative to the prefix, \"stderr\", or a syslog target "
              "\"syslog:server=unix:/dev/log,facility=local7,tag=portico,nohostname\" "
              "(docs/logging.md)" },
    { .name = "level", .type = PCO_CONF_ENUM, .offset = pco_core_elog_off(level),
      .def = "\"notice\"", .values = pco_core_levels,
      .help = "lowest level written: debug (--with-debug builds), info, notice, warn, "
              "error, crit, alert" },
    PCO_SETTINGS_END
};

static const pco_setting_t  pco_core_settings[] = {
    { .name = "daemon", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_core_conf_t, daemon), .def = "true",
      .help = "detach from the terminal; false: stay in the foreground, log to stderr too" },
    { .name = "worker_processes", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_core_conf_t, worker_processes), .def = "\"auto\"",
      .min = 1, .max = PCO_MAX_WORKERS, .flags = PCO_CONF_AUTO,
      .help = "number of worker processes; \"auto\" = online CPUs" },
    { .name = "worker_connections", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_core_conf_t, worker_connections), .def = "1024",
      .min = 16, .max = 1048576,
      .help = "connections per worker (clients and upstreams)" },
    { .name = "worker_shutdown_timeout", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_DURATION,
      .offset = offsetof(pco_core_conf_t, worker_shutdown_timeout), .def = "\"30s\"",
      .min = 0, .max = PCO_CONF_DAY,
      .help = "graceful shutdown limit after which an old worker closes everything" },
    { .name = "user", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_core_conf_t, user), .def = "\"" PCO_USER "\"",
      .help = "user the workers run as when started as root" },
    { .name = "group", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_core_conf_t, group), .def = "\"" PCO_GROUP "\"",
      .help = "group the workers run as when started as root; empty: the user's primary "
              "group" },
    { .name = "pid", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_STRING,
      .offset = offsetof(pco_core_conf_t, pid), .def = "\"" PCO_PID_PATH "\"",
      .help = "pid file of the master, relative to the prefix" },
    { .name = "error_log", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_core_conf_t, error_log), .sub = pco_core_error_log_settings,
      .help = "error log: { path; level; }" },
    { .name = "shared_memory", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_SIZE,
      .offset = offsetof(pco_core_conf_t, shared_memory), .def = "\"32m\"",
      .min = PCO_CONF_ZONE_MIN, .max = PCO_CONF_ZONE_MAX,
      .help = "memory for the health and statistics zones (upstream server state, counters); "
              "-t fails when they need more" },
    { .name = "worker_rlimit_nofile", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_INT,
      .offset = offsetof(pco_core_conf_t, worker_rlimit_nofile), .def = "0",
      .min = 0, .max = 16777216,
      .help = "RLIMIT_NOFILE for the processes; 0 = 2 * worker_connections + 64" },
    { .name = "include", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_STRLIST,
      .offset = offsetof(pco_core_conf_t, include), .flags = PCO_CONF_DUMP_NOTE,
      .help = "files whose upstreams, servers, rate_limits, conn_limits and caches lists are "
              "appended to this file's: paths relative to the prefix or absolute, glob "
              "patterns in sorted order (matching nothing is fine); one level only; see "
              "docs/configuration.md" },
    PCO_SETTINGS_END
};

/*
 * The core module. Hooks:
 *   conf_done  checks user (as root) and the log level, registers the master's counters.
 *   conf_final checks that the health and statistics zones fit in shared_memory.
 * The process life cycle itself (pco_process.c) runs the other modules' hooks.
 */
pco_module_t  pco_core_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "core",
    .settings = pco_core_settings,
    .conf_size = sizeof(pco_core_conf_t),
    .conf_done = pco_core_conf_done,
    .conf_final = pco_core_conf_final,
};

unsigned
pco_core_log_level(int index)
{
    if (index < 0 || (size_t) index >= pco_nelems(pco_core_level_map)) {
        return PCO_LOG_NOTICE;
    }
    return pco_core_level_map[index];
}

/* The zones sized from the configuration (upstream server state, counters) are what
 * shared_memory pays for: more than it allows is an error rather than a silent overrun. */
static int
pco_core_conf_final(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_shm_zone_t  *z = cycle->shm_zones.elts;
    size_t           i, need = 0;

    for (i = 0; i < cycle->shm_zones.nelts; i++) {
        if (z[i].core_budget) {
            need += z[i].size;
        }
    }
    if ((int64_t) need > cycle->core->shared_memory) {
        pco_conf_error_src(cf, PCO_CONF_SRC(cycle->core, pco_core_conf_t, shared_memory),
                           "the health and statistics zones need %zuk (%zu bytes), more than "
                           "the %lldk given", (need + 1023) / 1024, need,
                           (long long) (cycle->core->shared_memory / 1024));
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* An error-log syslog target: its syntax and address now (FILE:LINE), the socket only at a
 * real start. An error-log message carries its own level as severity: severity= would be
 * ignored, so it is refused rather than silently dropped. */
static void
pco_core_check_syslog(pco_conf_t *cf, pco_core_conf_t *ccf)
{
    pco_syslog_t  t;
    char          err[256];

    if (pco_syslog_parse(&t, ccf->error_log.path.data, ccf->error_log.path.len, err,
                         sizeof(err)) != PCO_OK)
    {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, error_log.path),
                           "bad syslog target \"%s\": %s", (char *) ccf->error_log.path.data,
                           err);
    } else if (t.severity >= 0) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, error_log.path),
                           "severity= is for access logs: an error-log message is sent with "
                           "its own level");
    }
}

static int
pco_core_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_core_conf_t  *ccf;

    ccf = pco_conf_get(cf->root, &pco_core_module);
    cycle->core = ccf;

    if (geteuid() == 0 && ccf->user.len > 0 && getpwnam((char *) ccf->user.data) == NULL) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, user), "unknown user \"%s\"",
                           (char *) ccf->user.data);
    }
    if (geteuid() == 0 && ccf->group.len > 0 && getgrnam((char *) ccf->group.data) == NULL) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, group),
                           "unknown group \"%s\"", (char *) ccf->group.data);
    }

#ifndef PCO_DEBUG
    if (pco_core_log_level(ccf->error_log.level) == PCO_LOG_DEBUG) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, error_log.level),
                           "level \"debug\" needs a build configured with --with-debug");
    }
#endif

    if (ccf->error_log.path.len == 0) {
        pco_conf_error_src(cf, PCO_CONF_SRC(ccf, pco_core_conf_t, error_log.path),
                           "empty error_log path");
    } else if (pco_syslog_is_target(ccf->error_log.path.data, ccf->error_log.path.len)) {
        pco_core_check_syslog(cf, ccf);
    }

    if (pco_conn_freed_add(cf, cycle, &pco_core_module, pco_listen_conn_freed) != PCO_OK) {
        return PCO_ERROR;
    }
    if (pco_counter_register(cf, cycle, "reloads", PCO_COUNTER_MONOTONIC) < 0
        || pco_counter_register(cf, cycle, "reloads_failed", PCO_COUNTER_MONOTONIC) < 0
        || pco_counter_register(cf, cycle, "worker_restarts", PCO_COUNTER_MONOTONIC) < 0
        || pco_counter_register(cf, cycle, "syslog_dropped", PCO_COUNTER_MONOTONIC) < 0
        || pco_procstat_register_core(cf, cycle) != PCO_OK)
    {
        return PCO_ERROR;
    }

    return cf->errors ? PCO_ERROR : PCO_OK;
}

static void
pco_cycle_free_conf(pco_cycle_t *cycle, bool loaded)
{
    if (loaded) {
        pco_conf_free(&cycle->conf);
    }
    pco_pool_destroy(cycle->pool);
}

pco_cycle_t *
pco_cycle_create(const char *prefix, const char *conf_file, const char *extra,
                 bool test_only, FILE *err)
{
    pco_pool_t   *pool;
    pco_cycle_t  *cycle;
    pco_conf_t   *cf;
    unsigned      i, n;
    long          cpus;
    int           rc;

    pool = pco_pool_create(16384, 0);
    if (pool == NULL) {
        fprintf(err, "%s: out of memory\n", PCO_NAME);
        return NULL;
    }

    cycle = pco_pcalloc(pool, sizeof(pco_cycle_t));
    if (cycle == NULL) {
        goto nomem;
    }
    cycle->pool = pool;

    for (n = 0; pco_modules[n] != NULL; n++) {
        /* count */
    }

    cycle->prefix = pco_pstrndup(pool, prefix, strlen(prefix));
    cycle->conf_file = pco_pstrndup(pool, conf_file, strlen(conf_file));
    cycle->extra = extra ? pco_pstrndup(pool, extra, strlen(extra)) : NULL;
    cycle->module_ctx = pco_pcalloc(pool, (n + 1) * sizeof(void *));
    if (cycle->prefix == NULL || cycle->conf_file == NULL || (extra && cycle->extra == NULL)
        || cycle->module_ctx == NULL
        || pco_array_init(&cycle->shm_zones, pool, 8, sizeof(pco_shm_zone_t)) != PCO_OK
        || pco_array_init(&cycle->helpers, pool, 4, sizeof(pco_helper_t)) != PCO_OK
        || pco_array_init(&cycle->reopen, pool, 8, sizeof(pco_reopen_t)) != PCO_OK
        || pco_array_init(&cycle->conn_freed, pool, 2, sizeof(pco_conn_freed_pt)) != PCO_OK)
    {
        goto nomem;
    }

    cf = &cycle->conf;
    cf->pool = pool;
    cf->file = cycle->conf_file;
    cf->prefix = cycle->prefix;
    cf->err = err;
    cf->test_only = test_only;

    rc = pco_conf_load(cf, cycle->conf_file, cycle->extra);
    if (cf->root == NULL) {
        /* a syntax error: there is nothing to check further */
        pco_cycle_free_conf(cycle, true);
        return NULL;
    }

    cycle->core = pco_conf_get(cf->root, &pco_core_module);

    /* every module's checks run even after a bad value (which keeps its default), so
     * that all errors are reported at once; conf_final needs a clean load */
    for (i = 0; pco_modules[i] != NULL; i++) {
        cf->module = pco_modules[i];
        if (pco_modules[i]->conf_done != NULL && pco_modules[i]->conf_done(cf, cycle) != PCO_OK) {
            rc = PCO_ERROR;
        }
    }
    if (rc == PCO_OK && cf->errors == 0) {
        for (i = 0; pco_modules[i] != NULL; i++) {
            cf->module = pco_modules[i];
            if (pco_modules[i]->conf_final != NULL
                && pco_modules[i]->conf_final(cf, cycle) != PCO_OK)
            {
                rc = PCO_ERROR;
            }
        }
    }
    if (rc != PCO_OK || cf->errors) {
        pco_cycle_free_conf(cycle, true);
        return NULL;
    }

    if (cycle->core->worker_processes < 0) {
        cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cycle->workers = cpus < 1 ? 1 : (unsigned) pco_min(cpus, PCO_MAX_WORKERS);
    } else {
        cycle->workers = (unsigned) pco_max(1, pco_min(cycle->core->worker_processes,
                                                       PCO_MAX_WORKERS));
    }

    return cycle;

nomem:
    fprintf(err, "%s: out of memory\n", PCO_NAME);
    pco_pool_destroy(pool);
    return NULL;
}

void
pco_cycle_destroy(pco_cycle_t *cycle)
{
    if (cycle == NULL) {
        return;
    }
    if (cycle->log != NULL && cycle->log->fd > 2
        && (pco_log == NULL || pco_log->fd != cycle->log->fd))
    {
        close(cycle->log->fd);
    }
    if (cycle->log != NULL && cycle->log->syslog != NULL && pco_log != cycle->log) {
        pco_syslog_close(cycle->log->syslog);
    }
    pco_cycle_free_conf(cycle, true);
}

int
pco_helper_add(pco_cycle_t *cycle, const pco_helper_t *h)
{
    pco_helper_t  *p;
    char           kind[PCO_PROCSTAT_KIND_LEN];

    /* the helper's descriptors and memory, under its own kind */
    pco_procstat_kind(kind, sizeof(kind), h->title);
    if (pco_procstat_register(NULL, cycle, kind) != PCO_OK) {
        return PCO_ERROR;
    }
    p = pco_array_push(&cycle->helpers);
    if (p == NULL) {
        return PCO_ERROR;
    }
    *p = *h;
    return PCO_OK;
}

int
pco_conn_freed_add(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                   pco_conn_freed_pt h)
{
    pco_conn_freed_pt  *p;

    if (h == NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register a connection-freed hook: "
                              "no function given");
        return PCO_ERROR;
    }
    p = pco_array_push(&cycle->conn_freed);
    if (p == NULL) {
        pco_conf_error_module(cf, m, NULL, "cannot register a connection-freed hook: "
                              "out of memory");
        return PCO_ERROR;
    }
    *p = h;
    return PCO_OK;
}

/* The error log as a syslog target (checked at conf_done). A socket that cannot be
 * connected now (no receiver yet) is no reason to refuse a start: sends retry it, and
 * drop (counted) what cannot go meanwhile. */
static int
pco_cycle_open_syslog(pco_cycle_t *cycle, pco_log_t *log)
{
    pco_core_conf_t  *ccf = cycle->core;
    pco_syslog_t     *t;
    char              err[256];

    t = pco_pcalloc(cycle->pool, sizeof(pco_syslog_t));
    if (t == NULL || pco_syslog_parse(t, ccf->error_log.path.data, ccf->error_log.path.len,
                                      err, sizeof(err)) != PCO_OK)
    {
        return PCO_ERROR;
    }
    t->counter = pco_counter_find("syslog_dropped");
    (void) pco_syslog_open(t);
    log->fd = -1;
    log->syslog = t;
    log->path = ccf->error_log.path;
    log->also_stderr = !ccf->daemon;
    cycle->log = log;
    return PCO_OK;
}

int
pco_cycle_open_log(pco_cycle_t *cycle)
{
    pco_log_t        *log;
    pco_core_conf_t  *ccf = cycle->core;
    char             *path;
    int               fd;

    log = pco_pcalloc(cycle->pool, sizeof(pco_log_t));
    if (log == NULL) {
        return PCO_ERROR;
    }

    log->level = pco_core_log_level(ccf->error_log.level);

    if (pco_str_eq(&ccf->error_log.path, "stderr")) {
        log->fd = 2;
        pco_str_set(&log->path, "stderr");
        log->also_stderr = false;

    } else if (pco_syslog_is_target(ccf->error_log.path.data, ccf->error_log.path.len)) {
        return pco_cycle_open_syslog(cycle, log);

    } else {
        path = pco_conf_full_path(&cycle->conf, (char *) ccf->error_log.path.data);
        if (path == NULL) {
            return PCO_ERROR;
        }
        fd = pco_log_open_file(path);
        if (fd == -1) {
            pco_log_error(PCO_LOG_ALERT, pco_log, errno, "open() \"%s\" failed", path);
            return PCO_ERROR;
        }
        /* workers reopen it by name on USR1 after the privilege drop */
        pco_give_to_workers(cycle, fd, path);
        log->fd = fd;
        log->path.data = (u_char *) path;
        log->path.len = strlen(path);
        log->also_stderr = !ccf->daemon;
    }

    cycle->log = log;
    return PCO_OK;
}
