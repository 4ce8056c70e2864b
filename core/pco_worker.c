/*
 * pco_worker.c: the child side of the process model, for workers and helpers alike.
 *
 * pco_child_kinds[] describes each kind of child the master forks: how many a generation
 * runs, its respawn positions, its names and its main function. pco_child_run() is what a
 * child does right after fork(): reset the signals the master handles, attach its counter
 * slot, set its title, drop privileges, close the listeners it does not accept on, set up
 * the event loop, the connection pool and the reclaim timer (pco_bcache.h), run every
 * module's init_worker, then the kind's main function (a worker accepts on its listeners, a
 * helper runs its init), and at the end every module's exit_worker. The event loop runs
 * until TERM (at once) or QUIT (gracefully: stop accepting, let connections finish within
 * worker_shutdown_timeout); each turn refreshes the process's descriptor and memory gauges
 * once a second (pco_procstat.h). Shared state touched: this process's counter slot
 * (pco_shm.h).
 */
#include "pco_core.h"
#include "pco_process.h"
#include "pco_process_int.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_event.h"
#include "pco_conn.h"
#include "pco_listen.h"
#include "pco_shm.h"
#include "pco_bcache.h"
#include "pco_procstat.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/prctl.h>

bool          pco_worker_exiting;
pid_t         pco_child_master;      /* the master that forks (pco_spawn sets it) */

/*
 * A child whose master is gone (killed, crashed) must not serve an old configuration
 * forever with nobody to stop it: it shuts down gracefully, as on QUIT. The kernel sends
 * SIGQUIT when the parent dies (PR_SET_PDEATHSIG, set after the privilege drop, which
 * clears it); the loop also compares getppid() with the master's pid once a second, which
 * covers a master that died before the prctl() call and systems without it. Not at every
 * turn of the loop: under load that is a system call per wake-up for a once-in-a-lifetime
 * event that PR_SET_PDEATHSIG already reports at once.
 */
static void
pco_watch_master(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGQUIT) == -1) {
        pco_plog(PCO_LOG_WARN, errno, "prctl(PR_SET_PDEATHSIG) failed");
    }
}

/* now: a QUIT arrived, which may be the kernel's PR_SET_PDEATHSIG, so look at once and say
 * why in the log */
static bool
pco_master_gone(bool now)
{
    static pco_msec_t  checked;

    if (pco_child_master <= 1 || (!now && pco_current_msec - checked < 1000)) {
        return false;
    }
    checked = pco_current_msec;
    return getppid() != pco_child_master;
}

/* Child: keep only the listening descriptors this process accepts on. */
static void
pco_close_foreign_listeners(pco_cycle_t *cycle, int kind, unsigned index)
{
    pco_listening_t  *ls;
    unsigned          i;

    for (ls = cycle->listening; ls != NULL; ls = ls->next) {
        if (kind != PCO_PROCESS_WORKER && ls->fd >= 0) {
            close(ls->fd);
            ls->fd = -1;
        }
        for (i = 0; i < ls->nreuse && i < PCO_MAX_WORKERS; i++) {
            if ((kind != PCO_PROCESS_WORKER || i != index) && ls->reuse_fds[i] >= 0) {
                close(ls->reuse_fds[i]);
                ls->reuse_fds[i] = -1;
            }
        }
    }
}

/* Child: runs the event loop until told to exit (TERM at once, QUIT gracefully). */
static void
pco_child_loop(pco_cycle_t *cycle, int kind, const char *title)
{
    char        buf[128];
    pco_msec_t  deadline = 0;

    for (;;) {
        (void) pco_event_process(1000);
        pco_procstat_refresh(pco_current_msec);

        if (pco_sig_terminate) {
            pco_plog(PCO_LOG_NOTICE, 0, "exiting");
            return;
        }

        if (pco_sig_reopen) {
            pco_sig_reopen = 0;
            pco_plog(PCO_LOG_NOTICE, 0, "reopening logs");
            pco_reopen_files(cycle);
        }

        if (!pco_worker_exiting && pco_master_gone(pco_sig_quit != 0)) {
            pco_plog(PCO_LOG_ALERT, 0, "master process %d is gone: finishing in-flight "
                     "requests and exiting", (int) pco_child_master);
            pco_sig_quit = 1;
        }

        if (pco_sig_quit && !pco_worker_exiting) {
            pco_sig_quit = 0;
            pco_worker_exiting = true;
            snprintf(buf, sizeof(buf), "%s: %s is shutting down", PCO_NAME, title);
            pco_setproctitle(buf);
            pco_plog(PCO_LOG_NOTICE, 0, "gracefully shutting down");
            if (kind == PCO_PROCESS_WORKER) {
                pco_listen_worker_stop(cycle);
            }
            deadline = pco_current_msec + cycle->core->worker_shutdown_timeout;
        }

        if (pco_worker_exiting) {
            (void) pco_conn_close_idle();
            if (pco_conn_used() == 0) {
                pco_plog(PCO_LOG_NOTICE, 0, "exiting");
                return;
            }
            if (pco_current_msec >= deadline) {
                /* exit() closes whatever is left */
                pco_plog(PCO_LOG_NOTICE, 0, "shutdown timeout: closing %u connections",
                         pco_conn_used());
                return;
            }
        }
    }
}

/* ---------------------------------------------------------------- workers ---- */

static unsigned
pco_worker_count(const pco_cycle_t *cycle)
{
    return cycle->workers;
}

static const char *
pco_worker_name(const pco_cycle_t *cycle, unsigned index)
{
    (void) cycle;
    (void) index;
    return "worker";
}

static const char *
pco_worker_title(const pco_cycle_t *cycle, unsigned index)
{
    (void) cycle;
    (void) index;
    return "worker process";
}

/* Worker: accepts on its listeners (its own SO_REUSEPORT socket or the shared one). */
static int
pco_worker_main(pco_cycle_t *cycle, unsigned index)
{
    if (pco_listen_worker_start(cycle, index) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_child_loop(cycle, PCO_PROCESS_WORKER, pco_worker_title(cycle, index));
    return PCO_OK;
}

/* ---------------------------------------------------------------- helpers ---- */

static unsigned
pco_helper_count(const pco_cycle_t *cycle)
{
    return (unsigned) pco_min(cycle->helpers.nelts, PCO_HELPERS_MAX);
}

static const char *
pco_helper_name(const pco_cycle_t *cycle, unsigned index)
{
    const pco_helper_t  *h = cycle->helpers.elts;

    return h[index].title;
}

/* Helper: the module's init sets up its events and timers, its exit runs at the end. */
static int
pco_helper_main(pco_cycle_t *cycle, unsigned index)
{
    pco_helper_t  *h = (pco_helper_t *) cycle->helpers.elts + index;

    if (h->init != NULL && h->init(cycle) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_child_loop(cycle, PCO_PROCESS_HELPER, h->title);
    if (h->exit != NULL) {
        h->exit(cycle);
    }
    return PCO_OK;
}

/* ---------------------------------------------------------------- kinds ---- */

const pco_child_kind_t  pco_child_kinds[PCO_CHILD_KIND_END] = {
    [PCO_PROCESS_WORKER] = {
        .first = 0,
        .max = PCO_MAX_WORKERS,
        .count = pco_worker_count,
        .name = pco_worker_name,
        .title = pco_worker_title,
        .main = pco_worker_main,
    },
    [PCO_PROCESS_HELPER] = {
        .first = PCO_MAX_WORKERS,
        .max = PCO_HELPERS_MAX,
        .count = pco_helper_count,
        .name = pco_helper_name,
        .title = pco_helper_name,
        .main = pco_helper_main,
    },
};

void
pco_child_run(pco_cycle_t *cycle, int kind, unsigned index, int slot)
{
    const pco_child_kind_t  *k = &pco_child_kinds[kind];
    struct sigaction         sa;
    sigset_t                 set;
    const char              *title;
    char                     buf[128];
    unsigned                 i, max_events;

    pco_process_type = kind;
    pco_worker_index = kind == PCO_PROCESS_WORKER ? (int) index : -1;
    pco_log_worker_id = pco_child_log_id(cycle, kind, index);
    pco_cycle = cycle;
    pco_log = cycle->log;
    pco_sig_quit = pco_sig_terminate = pco_sig_reopen = pco_sig_reconfigure = 0;
    pco_sig_child = pco_sig_upgrade = pco_sig_winch = 0;

    /* the master forwards what workers need: they ignore HUP, USR2 and WINCH */
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGHUP, &sa, NULL);
    (void) sigaction(SIGUSR2, &sa, NULL);
    (void) sigaction(SIGWINCH, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    (void) sigaction(SIGCHLD, &sa, NULL);
    (void) sigaction(SIGALRM, &sa, NULL);
    sigemptyset(&set);
    (void) sigprocmask(SIG_SETMASK, &set, NULL);

    if (slot >= 0) {
        pco_counter_slot_attach(slot);
    } else {
        pco_counter_slot = NULL;
    }

    title = k->title(cycle, index);
    pco_procstat_kind(buf, sizeof(buf), kind == PCO_PROCESS_WORKER ? "worker" : title);
    pco_procstat_attach(buf);
    snprintf(buf, sizeof(buf), "%s: %s", PCO_NAME, title);
    pco_setproctitle(buf);

    if (pco_drop_privileges() != PCO_OK) {
        exit(PCO_EXIT_FATAL);
    }

    pco_watch_master();
    pco_close_foreign_listeners(cycle, kind, index);

    pco_time_update();
    max_events = (unsigned) pco_min(cycle->core->worker_connections, 512);
    if (pco_event_init(max_events) != PCO_OK
        || pco_conn_pool_init((unsigned) cycle->core->worker_connections) != PCO_OK)
    {
        exit(PCO_EXIT_FATAL);
    }
    pco_reclaim_init();

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->init_worker != NULL && pco_modules[i]->init_worker(cycle) != PCO_OK) {
            exit(PCO_EXIT_FATAL);
        }
    }

    if (k->main(cycle, index) != PCO_OK) {
        exit(PCO_EXIT_FATAL);
    }

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->exit_worker != NULL) {
            pco_modules[i]->exit_worker(cycle);
        }
    }
    exit(0);
}
