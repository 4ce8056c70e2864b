/*
 * pco_process.h: master, worker and helper process life cycles, signals, pid file.
 */
#ifndef PCO_PROCESS_H
#define PCO_PROCESS_H

#include "pco_core.h"
#include <signal.h>

enum { PCO_PROCESS_MASTER = 0, PCO_PROCESS_WORKER, PCO_PROCESS_HELPER };

extern int                    pco_process_type;
extern int                    pco_worker_index;    /* 0..n-1 in a worker, -1 elsewhere */
extern bool                   pco_worker_exiting;  /* graceful shutdown under way */
extern volatile sig_atomic_t  pco_sig_quit, pco_sig_terminate, pco_sig_reopen,
                              pco_sig_reconfigure, pco_sig_child, pco_sig_upgrade,
                              pco_sig_winch;
extern int                    pco_argc;
extern char                 **pco_argv;

/* Runs the master (never returns except on exit): forks workers and helpers, supervises. */
int pco_master_run(pco_cycle_t *cycle);
/* Sets the process title as ps shows it ("portico: worker process"). */
void pco_setproctitle_init(int argc, char **argv);
void pco_setproctitle(const char *title);
/* Reopens the error log and calls every module's reopen (USR1). */
void pco_reopen_files(pco_cycle_t *cycle);
/* Registered by modules to reopen their files on USR1 (access logs), per cycle. */
typedef void (*pco_reopen_pt)(pco_cycle_t *cycle, void *data);
int pco_reopen_add(pco_cycle_t *cycle, pco_reopen_pt handler, void *data);
/* Registered by modules for graceful shutdown of a worker (flush logs, close pools). */
typedef void (*pco_shutdown_pt)(pco_cycle_t *cycle);

/* -s: sends the signal named by action to the pid in the pid file; exit status. */
int pco_signal_process(pco_cycle_t *cycle, const char *action);

#endif
