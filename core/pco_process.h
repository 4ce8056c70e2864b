/*
 * pco_process.h: master, worker and helper process life cycles, signals, pid file.
 * Implemented in pco_master.c (the master's life cycle), pco_process.c (process-wide state,
 * the master's table of children, respawning), pco_worker.c (the child side, one entry per
 * kind of child in pco_child_kinds[]) and pco_signal.c; their shared internals are in
 * pco_process_int.h, which modules do not include.
 */
#ifndef PCO_PROCESS_H
#define PCO_PROCESS_H

#include "pco_core.h"
#include <signal.h>
#include <stdio.h>

enum { PCO_PROCESS_MASTER = 0, PCO_PROCESS_WORKER, PCO_PROCESS_HELPER };

extern int                    pco_process_type;
extern int                    pco_worker_index;    /* 0..n-1 in a worker, -1 elsewhere */
extern bool                   pco_worker_exiting;  /* graceful shutdown under way */
extern volatile sig_atomic_t  pco_sig_quit, pco_sig_terminate, pco_sig_reopen,
                              pco_sig_reconfigure, pco_sig_child, pco_sig_upgrade,
                              pco_sig_winch;
extern int                    pco_argc;
extern char                 **pco_argv;

/*
 * The outcome of each reload, for `-s reload`: after every HUP the master replaces the file
 * PIDFILE.reload (written aside and renamed, so never read half-written) with one line
 * "PID N ok" or "PID N failed", N counting the master's reloads. The signalling process
 * notes the line before it sends HUP and waits (at most PCO_RELOAD_WAIT ms) for a new line
 * of the master it signalled.
 */
#define PCO_RELOAD_RESULT_SUFFIX  ".reload"
#define PCO_RELOAD_WAIT           10000

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
/* Master started as root with a user: the uid and gid the workers of cycle run as (gid:
 * the group setting, else the user's primary group); PCO_DECLINED when privileges are not
 * dropped, PCO_ERROR after logging a failed look-up. */
int pco_worker_ids(const pco_cycle_t *cycle, uid_t *uid, gid_t *gid);
/* Master: gives a regular file or folder it created (fd, or path when fd is -1) to the
 * workers' user and group, so that they can reopen and write it after the privilege drop.
 * No-op in other processes, when not root, and for devices; a failure is a warning. */
void pco_give_to_workers(const pco_cycle_t *cycle, int fd, const char *path);
/* Registered by modules for graceful shutdown of a worker (flush logs, close pools). */
typedef void (*pco_shutdown_pt)(pco_cycle_t *cycle);

/* One entry of cycle->reopen. */
typedef struct {
    pco_reopen_pt  handler;
    void          *data;
} pco_reopen_t;

/* Respawn throttle of one worker/helper position: more than PCO_RESPAWN_BURST respawns
 * within PCO_RESPAWN_WINDOW ms make the next one wait PCO_RESPAWN_DELAY ms. */
#define PCO_RESPAWN_BURST   5
#define PCO_RESPAWN_WINDOW  10000
#define PCO_RESPAWN_DELAY   1000

typedef struct {
    pco_msec_t  times[PCO_RESPAWN_BURST];   /* ring of the last respawn times */
    unsigned    n;                          /* entries used (<= PCO_RESPAWN_BURST) */
    unsigned    next;                       /* ring position of the next entry */
} pco_respawn_t;

/* Pure: a respawn is wanted at now; returns the delay (0 or PCO_RESPAWN_DELAY) and records
 * the respawn at now + delay. */
pco_msec_t pco_respawn_throttle(pco_respawn_t *r, pco_msec_t now);
/* Pure: writes "portico: master process ARGV..." (NUL-terminated, truncated) into buf. */
size_t pco_master_title(char *buf, size_t size, int argc, char *const *argv);

/* The command line (pco_main.c); pure, unit-tested. */
typedef struct {
    const char  *conf_file;    /* -c, NULL = default */
    const char  *prefix;       /* -p, NULL = default */
    const char  *extra;        /* -g */
    const char  *signal;       /* -s: stop | quit | reload | reopen */
    bool         test;         /* -t or -T */
    bool         dump;         /* -T */
    bool         version;      /* -v or -V */
    bool         version_full; /* -V */
    bool         help;         /* -h or -? */
} pco_cli_t;

/* Parses argv into cli; PCO_ERROR after printing "portico: ..." to err (then: usage, exit 1). */
int pco_cli_parse(int argc, char *const *argv, pco_cli_t *cli, FILE *err);

/* -s: sends the signal named by action to the pid in the pid file; exit status. */
int pco_signal_process(pco_cycle_t *cycle, const char *action);

#endif
