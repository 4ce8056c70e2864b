/*
 * pco_cycle.h: one configuration generation: its pool, parsed configuration, listeners,
 * shared zones, helper processes and per-module runtime data. The master builds a new cycle
 * on reload and keeps the old one until its workers are gone.
 */
#ifndef PCO_CYCLE_H
#define PCO_CYCLE_H

#include "pco_core.h"
#include "pco_pool.h"
#include "pco_conf.h"
#include "pco_log.h"

/* A helper process declared by a module at conf_done (health checker, cache loader...):
 * forked, respawned and replaced on reload by the master exactly like a worker. init runs
 * in the child after privilege drop and sets up events/timers; core then runs the event
 * loop until told to stop; exit runs before the process ends. */
typedef struct {
    const char  *title;                   /* "health checker" -> "portico: health checker" */
    int        (*init)(pco_cycle_t *cycle);
    void       (*exit)(pco_cycle_t *cycle);
    void        *data;
} pco_helper_t;

/* The core module's top-level settings. */
typedef struct {
    bool         daemon;
    int64_t      worker_processes;        /* -1 = auto */
    int64_t      worker_connections;
    pco_msec_t   worker_shutdown_timeout;
    pco_str_t    user;
    pco_str_t    group;                   /* empty: the user's primary group */
    pco_str_t    pid;
    struct {
        pco_str_t  path;
        int        level;                 /* index into pco_log_level names */
    } error_log;
    int64_t      shared_memory;
    int64_t      worker_rlimit_nofile;    /* 0 = computed from worker_connections */
    pco_str_list_t include;               /* as written; read by the loader itself */
} pco_core_conf_t;

struct pco_cycle_s {
    pco_pool_t        *pool;
    pco_conf_t         conf;              /* cf: the parsed configuration */
    pco_core_conf_t   *core;              /* = pco_conf_get(conf.root, &pco_core_module) */
    pco_log_t         *log;
    pco_listening_t   *listening;         /* list */
    pco_array_t        shm_zones;         /* pco_shm_zone_t */
    pco_array_t        helpers;           /* pco_helper_t */
    pco_array_t        reopen;            /* {pco_reopen_pt, data}: USR1 handlers */
    pco_array_t        conn_freed;        /* pco_conn_freed_pt, in registration order */
    void             **module_ctx;        /* per module index */
    const char        *prefix;            /* with trailing '/' */
    const char        *conf_file;
    unsigned           workers;           /* resolved worker_processes */
    unsigned           generation;
    const char        *extra;             /* the -g text (kept for reloads), may be NULL */
};

extern pco_module_t  pco_core_module;
extern pco_cycle_t  *pco_cycle;          /* the current generation in this process */

/* Builds a cycle: load + conf_done of every module. test_only: no side effects.
 * Returns NULL when anything was reported. extra = -g text. */
pco_cycle_t *pco_cycle_create(const char *prefix, const char *conf_file, const char *extra,
                              bool test_only, FILE *err);
void pco_cycle_destroy(pco_cycle_t *cycle);
int pco_helper_add(pco_cycle_t *cycle, const pco_helper_t *h);
/* Called by pco_conn_close, in the order registered, after a connection struct went back to
 * the free list (core resumes accepting there after worker_connections paused it). Any
 * module may add one at conf_done; it belongs to the cycle, so a rejected reload leaves the
 * running generation's list as it was. pco_conn_close walks the list of pco_cycle (the
 * process's current generation): no allocation, one loop per close. PCO_ERROR after
 * reporting `module "NAME": ...` (m NULL: cf->module). */
typedef void (*pco_conn_freed_pt)(pco_cycle_t *cycle);
int pco_conn_freed_add(pco_conf_t *cf, pco_cycle_t *cycle, const pco_module_t *m,
                       pco_conn_freed_pt h);
/* Master, start and reload only (never -t): opens the error log of cycle->core->error_log
 * into cycle->log ("stderr" = fd 2). PCO_ERROR after logging to the current log. */
int pco_cycle_open_log(pco_cycle_t *cycle);
/* The PCO_LOG_* level of the error_log.level enum index. */
unsigned pco_core_log_level(int index);

#endif
