/*
 * pco_procstat.h: facts about the processes themselves, kept as gauges in the counter table
 * (pco_shm.h) for the status route.
 *
 * Per process kind ("master", "worker", and each helper's title with '_' for spaces:
 * "health_checker", "cache_loader"...): process_open_fds:KIND and process_rss_bytes:KIND.
 * Every process writes its own values into its own counter slot, at start and then about
 * once a second (children from their event loop, the master from its SIGALRM timer), so a
 * reader's sum over the slots is the total of the live processes of each kind. The master
 * also keeps, in its slot: process_start_time_seconds (unix time it started),
 * config_generation (1 at start, +1 per successful reload) and
 * config_reload_last_success_seconds (unix time of the last successful reload, 0 before).
 * Reading /proc/self is a few system calls on procfs, never a blocking wait.
 */
#ifndef PCO_PROCSTAT_H
#define PCO_PROCSTAT_H

#include "pco_core.h"

#define PCO_PROCSTAT_KIND_LEN  48
#define PCO_PROCSTAT_PERIOD    1000          /* ms between two refreshes */

/* The kind label of a helper title ("health checker" -> "health_checker") into buf. */
void pco_procstat_kind(char *buf, size_t size, const char *title);
/* conf_done (master, -t too): registers the two gauges of kind (cf may be NULL: then a
 * failure is logged). PCO_ERROR when the counter table is full. */
int pco_procstat_register(pco_conf_t *cf, pco_cycle_t *cycle, const char *kind);
/* conf_done of the core module: the master's own gauges and those of the workers. */
int pco_procstat_register_core(pco_conf_t *cf, pco_cycle_t *cycle);
/* Any process with a counter slot, right after attaching it: this process is of kind; its
 * values are written at once. */
void pco_procstat_attach(const char *kind);
/* Writes this process's open descriptors and RSS when PCO_PROCSTAT_PERIOD ms passed since
 * the last time (now: monotonic ms). */
void pco_procstat_refresh(pco_msec_t now);
/* Master: when the next refresh is due (monotonic ms), 0 when none is attached. */
pco_msec_t pco_procstat_due(void);
/* Master: it started now (start time, generation 1); a reload of cycle succeeded. */
void pco_procstat_master_started(const pco_cycle_t *cycle);
void pco_procstat_reloaded(const pco_cycle_t *cycle);

/* Pure (unit-tested): the resident pages of a /proc/self/statm text, -1 when malformed. */
int64_t pco_procstat_statm_rss(const char *text);

#endif
