/*
 * pco_process_int.h: what the process files share among themselves and nobody else:
 * pco_signal.c (signal flags and handlers), pco_process.c (process-wide state, the master's
 * table of child processes, spawning and respawning), pco_worker.c (the child side: the
 * table of child kinds and their main functions) and pco_master.c (the master's life cycle:
 * start, reload, binary upgrade, shutdown). Modules use pco_process.h instead.
 */
#ifndef PCO_PROCESS_INT_H
#define PCO_PROCESS_INT_H

#include "pco_core.h"
#include "pco_process.h"
#include "pco_cycle.h"
#include "pco_log.h"
#include "pco_listen.h"
#include <signal.h>

#define PCO_HELPERS_MAX   32
#define PCO_EXIT_FATAL    2         /* a child that cannot start: not respawned */

/* Respawn positions: each kind of child owns [first, first + max) of the master's respawn
 * throttles, one per worker index / helper index. */
#define PCO_RESPAWN_POSITIONS  (PCO_MAX_WORKERS + PCO_HELPERS_MAX)

#define pco_plog(lvl, err, ...)                                                 \
    do {                                                                        \
        if (pco_log != NULL && pco_log->level >= (unsigned) (lvl)) {           \
            pco_log_error(lvl, pco_log, err, __VA_ARGS__);                      \
        }                                                                       \
    } while (0)

/*
 * One kind of child process the master forks, respawns and replaces on reload (workers,
 * helpers). pco_child_kinds[] is indexed by the kind (PCO_PROCESS_WORKER...); the master's
 * entry is empty. Adding a kind: a PCO_PROCESS_* value (and PCO_CHILD_KIND_END below), an
 * entry in pco_child_kinds[] with its main function, and positions in PCO_RESPAWN_POSITIONS;
 * the master's start, respawn, throttle and reload code walks the table. Only workers keep
 * listening sockets; every other kind closes them at start.
 */
typedef struct {
    unsigned      first;      /* first respawn position of this kind */
    unsigned      max;        /* positions reserved: at most this many run per generation */
    /* Master and child: how many processes of this kind cycle runs (<= max). */
    unsigned    (*count)(const pco_cycle_t *cycle);
    /* Master: the name in log lines ("worker" -> "start worker process 123"). */
    const char *(*name)(const pco_cycle_t *cycle, unsigned index);
    /* Child: the process title after "portico: " ("worker process"). */
    const char *(*title)(const pco_cycle_t *cycle, unsigned index);
    /* Child, after the common set-up and every module's init_worker: runs the process until
     * it is told to exit and returns PCO_OK, or PCO_ERROR when it cannot start (exit code
     * PCO_EXIT_FATAL: not respawned). Module exit_worker hooks run after it returns. */
    int         (*main)(pco_cycle_t *cycle, unsigned index);
} pco_child_kind_t;

#define PCO_CHILD_KIND_FIRST  PCO_PROCESS_WORKER
#define PCO_CHILD_KIND_END    (PCO_PROCESS_HELPER + 1)     /* one past the last kind */

/* pco_signal.c */
extern volatile sig_atomic_t  pco_sig_alarm;         /* SIGALRM: a master deadline is due */
extern volatile sig_atomic_t  pco_sig_term_signo;    /* SIGTERM or SIGINT, for the log */
/* Installs the handler for every signal portico handles and ignores SIGPIPE. */
int pco_signals_init(void);
/* Blocks every handled signal; set receives them. */
void pco_signals_block(sigset_t *set);
/* Child about to exec: default dispositions for every handled signal, nothing blocked. */
void pco_signals_reset(void);
/* "SIGHUP" for SIGHUP..., "?" for others. */
const char *pco_signal_name(int signo);

/* pco_process.c */
/* Master: the kind and index of a respawn position; PCO_ERROR when no kind owns it. */
int pco_respawn_pos_kind(unsigned pos, int *kind, unsigned *index);
/* Child: the id printed after the pid in the error log ("1234#3"): workers 0..n-1, then
 * the other kinds in table order. */
int pco_child_log_id(const pco_cycle_t *cycle, int kind, unsigned index);
/* Child: setgid/initgroups/setuid to the user resolved by the master when it is root. */
int pco_drop_privileges(void);
/* Master: the counter name += 1 in the master's own slot. */
void pco_count_master(const char *name);
/* Master: forks the processes of every kind of cycle (new generation). */
void pco_start_processes(pco_cycle_t *cycle);
/* Master: starts the processes of cycle that are not running (WINCH undone). */
void pco_start_missing(pco_cycle_t *cycle);
/* Master: signals every child (of cycle, or all when NULL); QUIT/TERM/KILL mark exiting. */
void pco_signal_children(pco_cycle_t *cycle, int signo);
/* Master: live children of cycle, or of all generations when NULL. */
unsigned pco_children_count(const pco_cycle_t *cycle);
/* Master: keeps old until its last process is gone, then destroys it. */
void pco_retire(pco_cycle_t *old);
void pco_retired_collect(void);
/* Master: waitpid() said pid ended with status: folds, logs and respawns when it crashed. */
void pco_child_reaped(pid_t pid, int status, pco_msec_t now);
/* Master: spawns the throttled respawns that are due at now. */
void pco_respawn_pending(pco_msec_t now);
/* Master: forgets every pending respawn (shutdown, WINCH). */
void pco_respawn_cancel(void);
/* Master: arms SIGALRM for the nearest deadline (pending respawn, kill after shutdown). */
void pco_master_arm_timer(pco_msec_t now);

/* pco_worker.c */
extern const pco_child_kind_t  pco_child_kinds[PCO_CHILD_KIND_END];
/* The master's pid, set before fork(): a child watches it. */
extern pid_t pco_child_master;
/* Child, right after fork(): becomes process index of kind; never returns. */
void pco_child_run(pco_cycle_t *cycle, int kind, unsigned index, int slot);

/* pco_master.c: the state the child table reads */
extern int         pco_shutting_down;         /* 0, SIGQUIT or SIGTERM */
extern pco_msec_t  pco_kill_deadline;         /* SIGKILL the children left at this time */
extern bool        pco_no_respawn;            /* WINCH honoured: no respawns */

#endif
