/*
 * pco_process.c: the master, worker and helper process life cycles.
 *
 * The master binds listeners, creates the shared zones, runs every module's init_master,
 * opens the error log, daemonises, writes the pid file and forks the workers and helpers of
 * the current generation (cycle). It then only supervises from sigsuspend(): signals set
 * volatile flags and are blocked everywhere else, so the loop below handles them one at a
 * time. HUP builds a new cycle (a rejected one leaves everything untouched) and sends QUIT
 * to the previous generation; CHLD reaps, folds counter slots and respawns crashed
 * processes of the current generation through a throttle; USR2 execs a new binary that
 * inherits the listeners through PORTICO_LISTEN; WINCH stops our workers while that new
 * binary runs. Workers and helpers run the event loop and look at the same flags after
 * every pass. Shared state touched: counter slots (pco_shm.h), the pid file.
 */
#include "pco_core.h"
#include "pco_process.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_event.h"
#include "pco_conn.h"
#include "pco_listen.h"
#include "pco_shm.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <pwd.h>
#include <grp.h>
#include <limits.h>
#include <sys/wait.h>
#include <sys/time.h>
#include <sys/resource.h>

#define PCO_PROCS_MAX     256
#define PCO_HELPERS_MAX   32
#define PCO_RETIRED_MAX   32
#define PCO_TERM_WAIT     5000      /* ms before SIGKILL after TERM */
#define PCO_QUIT_SLACK    5000      /* ms after worker_shutdown_timeout before SIGKILL */
#define PCO_EXIT_FATAL    2         /* a child that cannot start: not respawned */

#define pco_plog(lvl, err, ...)                                                 \
    do {                                                                        \
        if (pco_log != NULL && pco_log->level >= (unsigned) (lvl)) {           \
            pco_log_error(lvl, pco_log, err, __VA_ARGS__);                      \
        }                                                                       \
    } while (0)

typedef struct {
    pid_t         pid;              /* 0: free entry */
    pco_cycle_t  *cycle;            /* its generation */
    int           kind;             /* PCO_PROCESS_WORKER or PCO_PROCESS_HELPER */
    unsigned      index;            /* worker index, or index into cycle->helpers */
    int           slot;             /* counter slot or -1 */
    bool          exiting;          /* QUIT/TERM sent: never respawned */
} pco_proc_t;

int                    pco_process_type = PCO_PROCESS_MASTER;
int                    pco_worker_index = -1;
bool                   pco_worker_exiting;
volatile sig_atomic_t  pco_sig_quit, pco_sig_terminate, pco_sig_reopen, pco_sig_reconfigure,
                       pco_sig_child, pco_sig_upgrade, pco_sig_winch;
int                    pco_argc;
char                 **pco_argv;

static volatile sig_atomic_t  pco_sig_alarm;
static volatile sig_atomic_t  pco_sig_term_signo;

static pco_proc_t     pco_procs[PCO_PROCS_MAX];
static pco_respawn_t  pco_respawns[PCO_MAX_WORKERS + PCO_HELPERS_MAX];
static pco_msec_t     pco_respawn_due[PCO_MAX_WORKERS + PCO_HELPERS_MAX];   /* 0 = none */
static pco_cycle_t   *pco_retired[PCO_RETIRED_MAX];

static int            pco_shutting_down;         /* 0, SIGQUIT or SIGTERM */
static pco_msec_t     pco_kill_deadline;
static pid_t          pco_new_binary;            /* USR2 child master, 0 when none */
static bool           pco_no_respawn;            /* WINCH honoured */
static bool           pco_pid_oldbin;            /* the pid file was renamed to .oldbin */
static char           pco_pid_path[PATH_MAX];
static bool           pco_run_as_user;
static uid_t          pco_run_uid;
static gid_t          pco_run_gid;
static char           pco_run_user[256];

/* ---------------------------------------------------------------- pure helpers ---- */

pco_msec_t
pco_respawn_throttle(pco_respawn_t *r, pco_msec_t now)
{
    pco_msec_t  delay = 0, oldest;

    if (r->n == PCO_RESPAWN_BURST) {
        /* the ring is full: next is the oldest of the last BURST respawns */
        oldest = r->times[r->next];
        if (now - oldest < PCO_RESPAWN_WINDOW) {
            delay = PCO_RESPAWN_DELAY;
        }
    } else {
        r->n++;
    }

    r->times[r->next] = now + delay;
    r->next = (r->next + 1) % PCO_RESPAWN_BURST;

    return delay;
}

size_t
pco_master_title(char *buf, size_t size, int argc, char *const *argv)
{
    size_t  len, n;
    int     i;

    if (size == 0) {
        return 0;
    }
    len = (size_t) snprintf(buf, size, "%s: master process", PCO_NAME);
    if (len >= size) {
        return size - 1;
    }
    for (i = 0; i < argc && argv[i] != NULL; i++) {
        if (len + 2 >= size) {
            break;
        }
        buf[len++] = ' ';
        n = strlen(argv[i]);
        if (n > size - 1 - len) {
            n = size - 1 - len;
        }
        memcpy(buf + len, argv[i], n);
        len += n;
    }
    buf[len] = '\0';
    return len;
}

/* ---------------------------------------------------------------- signals ---- */

static void
pco_signal_handler(int signo)
{
    int  saved = errno;

    switch (signo) {
    case SIGQUIT:
        pco_sig_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        pco_sig_terminate = 1;
        pco_sig_term_signo = signo;
        break;
    case SIGHUP:
        pco_sig_reconfigure = 1;
        break;
    case SIGUSR1:
        pco_sig_reopen = 1;
        break;
    case SIGUSR2:
        pco_sig_upgrade = 1;
        break;
    case SIGWINCH:
        pco_sig_winch = 1;
        break;
    case SIGCHLD:
        pco_sig_child = 1;
        break;
    case SIGALRM:
        pco_sig_alarm = 1;
        break;
    default:
        break;
    }

    errno = saved;
}

static const int  pco_handled_signals[] = {
    SIGQUIT, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGALRM
};

static int
pco_signals_init(void)
{
    struct sigaction  sa;
    size_t            i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pco_signal_handler;
    sa.sa_flags = SA_NOCLDSTOP;     /* no SA_RESTART: epoll_wait and sigsuspend return */
    sigemptyset(&sa.sa_mask);

    for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
        if (sigaction(pco_handled_signals[i], &sa, NULL) == -1) {
            pco_plog(PCO_LOG_ALERT, errno, "sigaction(%d) failed", pco_handled_signals[i]);
            return PCO_ERROR;
        }
    }

    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    (void) sigaction(SIGPIPE, &sa, NULL);

    return PCO_OK;
}

static void
pco_signals_block(sigset_t *set)
{
    size_t  i;

    sigemptyset(set);
    for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
        sigaddset(set, pco_handled_signals[i]);
    }
    (void) sigprocmask(SIG_BLOCK, set, NULL);
}

static const char *
pco_signal_name(int signo)
{
    switch (signo) {
    case SIGHUP:   return "SIGHUP";
    case SIGINT:   return "SIGINT";
    case SIGQUIT:  return "SIGQUIT";
    case SIGTERM:  return "SIGTERM";
    case SIGUSR1:  return "SIGUSR1";
    case SIGUSR2:  return "SIGUSR2";
    case SIGWINCH: return "SIGWINCH";
    case SIGKILL:  return "SIGKILL";
    case SIGSEGV:  return "SIGSEGV";
    case SIGABRT:  return "SIGABRT";
    case SIGBUS:   return "SIGBUS";
    default:       return "?";
    }
}

static pco_msec_t
pco_master_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (pco_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- reopen ---- */

int
pco_reopen_add(pco_cycle_t *cycle, pco_reopen_pt handler, void *data)
{
    pco_reopen_t  *r;

    r = pco_array_push(&cycle->reopen);
    if (r == NULL) {
        return PCO_ERROR;
    }
    r->handler = handler;
    r->data = data;
    return PCO_OK;
}

void
pco_reopen_files(pco_cycle_t *cycle)
{
    pco_reopen_t  *r;
    pco_log_t     *log = cycle->log;
    size_t         i;
    int            fd;

    if (log != NULL && log->fd > 2 && log->path.data != NULL) {
        fd = pco_log_open_file((char *) log->path.data);
        if (fd == -1) {
            pco_plog(PCO_LOG_ALERT, errno, "open() \"%s\" failed", (char *) log->path.data);
        } else {
            /* keep the descriptor number: copies of the log struct stay valid */
            if (dup2(fd, log->fd) == -1) {
                pco_plog(PCO_LOG_ALERT, errno, "dup2() of the error log failed");
            }
            close(fd);
            /* the workers reopen after the master: let them write to the new file */
            if (pco_process_type == PCO_PROCESS_MASTER && pco_run_as_user && geteuid() == 0
                && fchown(log->fd, pco_run_uid, (gid_t) -1) == -1)
            {
                pco_plog(PCO_LOG_ALERT, errno, "fchown() \"%s\" failed",
                         (char *) log->path.data);
            }
        }
    }

    r = cycle->reopen.elts;
    for (i = 0; i < cycle->reopen.nelts; i++) {
        r[i].handler(cycle, r[i].data);
    }
}

/* ---------------------------------------------------------------- children ---- */

static const char *
pco_proc_name(const pco_proc_t *p)
{
    const pco_helper_t  *h;

    if (p->kind == PCO_PROCESS_HELPER) {
        h = p->cycle->helpers.elts;
        return h[p->index].title;
    }
    return "worker";
}

static int
pco_drop_privileges(void)
{
    if (!pco_run_as_user || geteuid() != 0) {
        return PCO_OK;
    }
    if (setgid(pco_run_gid) == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "setgid(%d) failed", (int) pco_run_gid);
        return PCO_ERROR;
    }
    if (initgroups(pco_run_user, pco_run_gid) == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "initgroups(%s, %d) failed", pco_run_user,
                 (int) pco_run_gid);
        return PCO_ERROR;
    }
    if (setuid(pco_run_uid) == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "setuid(%d) failed", (int) pco_run_uid);
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Master: looks up the user of cycle for the next forks (the name was checked at load). */
static void
pco_resolve_user(pco_cycle_t *cycle)
{
    struct passwd  *pw;

    pco_run_as_user = false;
    if (geteuid() != 0 || cycle->core->user.len == 0) {
        return;
    }
    pw = getpwnam((char *) cycle->core->user.data);
    if (pw == NULL) {
        pco_plog(PCO_LOG_ALERT, errno, "getpwnam(\"%s\") failed",
                 (char *) cycle->core->user.data);
        return;
    }
    pco_run_as_user = true;
    pco_run_uid = pw->pw_uid;
    pco_run_gid = pw->pw_gid;
    snprintf(pco_run_user, sizeof(pco_run_user), "%s", (char *) cycle->core->user.data);
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

        if (pco_sig_terminate) {
            pco_plog(PCO_LOG_NOTICE, 0, "exiting");
            return;
        }

        if (pco_sig_reopen) {
            pco_sig_reopen = 0;
            pco_plog(PCO_LOG_NOTICE, 0, "reopening logs");
            pco_reopen_files(cycle);
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

static void
pco_child_run(pco_cycle_t *cycle, int kind, unsigned index, int slot)
{
    struct sigaction     sa;
    sigset_t             set;
    pco_helper_t        *h = NULL;
    const char          *title;
    char                 buf[128];
    unsigned             i, max_events;

    pco_process_type = kind;
    pco_worker_index = kind == PCO_PROCESS_WORKER ? (int) index : -1;
    pco_log_worker_id = kind == PCO_PROCESS_WORKER ? (int) index
                                                   : (int) (cycle->workers + index);
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

    if (kind == PCO_PROCESS_HELPER) {
        h = (pco_helper_t *) cycle->helpers.elts + index;
        title = h->title;
    } else {
        title = "worker process";
    }
    snprintf(buf, sizeof(buf), "%s: %s", PCO_NAME, title);
    pco_setproctitle(buf);

    if (pco_drop_privileges() != PCO_OK) {
        exit(PCO_EXIT_FATAL);
    }

    pco_close_foreign_listeners(cycle, kind, index);

    pco_time_update();
    max_events = (unsigned) pco_min(cycle->core->worker_connections, 512);
    if (pco_event_init(max_events) != PCO_OK
        || pco_conn_pool_init((unsigned) cycle->core->worker_connections) != PCO_OK)
    {
        exit(PCO_EXIT_FATAL);
    }

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->init_worker != NULL && pco_modules[i]->init_worker(cycle) != PCO_OK) {
            exit(PCO_EXIT_FATAL);
        }
    }

    if (kind == PCO_PROCESS_WORKER) {
        if (pco_listen_worker_start(cycle, index) != PCO_OK) {
            exit(PCO_EXIT_FATAL);
        }
    } else if (h->init != NULL && h->init(cycle) != PCO_OK) {
        exit(PCO_EXIT_FATAL);
    }

    pco_child_loop(cycle, kind, title);

    if (h != NULL && h->exit != NULL) {
        h->exit(cycle);
    }
    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->exit_worker != NULL) {
            pco_modules[i]->exit_worker(cycle);
        }
    }
    exit(0);
}

/* Master: forks one worker or helper of cycle; the pid, or -1 after logging. */
static pid_t
pco_spawn(pco_cycle_t *cycle, int kind, unsigned index)
{
    pco_proc_t  *p = NULL;
    pid_t        pid;
    size_t       i;
    int          slot;

    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid == 0) {
            p = &pco_procs[i];
            break;
        }
    }
    if (p == NULL) {
        pco_plog(PCO_LOG_ALERT, 0, "too many child processes, cannot start another one");
        return -1;
    }

    slot = pco_counter_slot_alloc();
    if (slot < 0) {
        pco_plog(PCO_LOG_WARN, 0, "no free counter slot: the new process is not counted");
    }

    pid = fork();
    if (pid == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "fork() failed");
        if (slot >= 0) {
            pco_counter_slot_fold(slot);
        }
        return -1;
    }
    if (pid == 0) {
        pco_child_run(cycle, kind, index, slot);
        exit(0);
    }

    p->pid = pid;
    p->cycle = cycle;
    p->kind = kind;
    p->index = index;
    p->slot = slot;
    p->exiting = false;

    pco_plog(PCO_LOG_NOTICE, 0, "start %s process %d", pco_proc_name(p), (int) pid);
    return pid;
}

static unsigned
pco_respawn_pos(int kind, unsigned index)
{
    return kind == PCO_PROCESS_WORKER ? index : PCO_MAX_WORKERS + index;
}

static void
pco_start_processes(pco_cycle_t *cycle)
{
    unsigned  i;

    pco_resolve_user(cycle);
    memset(pco_respawns, 0, sizeof(pco_respawns));
    memset(pco_respawn_due, 0, sizeof(pco_respawn_due));

    for (i = 0; i < cycle->workers; i++) {
        (void) pco_spawn(cycle, PCO_PROCESS_WORKER, i);
    }
    for (i = 0; i < cycle->helpers.nelts && i < PCO_HELPERS_MAX; i++) {
        (void) pco_spawn(cycle, PCO_PROCESS_HELPER, i);
    }
}

/* Master: starts the processes of the current generation that are not running (after a
 * WINCH when the new binary went away). */
static void
pco_start_missing(pco_cycle_t *cycle)
{
    bool      running[PCO_MAX_WORKERS + PCO_HELPERS_MAX];
    unsigned  i;

    memset(running, 0, sizeof(running));
    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid != 0 && pco_procs[i].cycle == cycle && !pco_procs[i].exiting) {
            running[pco_respawn_pos(pco_procs[i].kind, pco_procs[i].index)] = true;
        }
    }
    for (i = 0; i < cycle->workers; i++) {
        if (!running[i]) {
            (void) pco_spawn(cycle, PCO_PROCESS_WORKER, i);
        }
    }
    for (i = 0; i < cycle->helpers.nelts && i < PCO_HELPERS_MAX; i++) {
        if (!running[PCO_MAX_WORKERS + i]) {
            (void) pco_spawn(cycle, PCO_PROCESS_HELPER, i);
        }
    }
}

/* Master: signals every child (of generation cycle, or all when NULL); QUIT and TERM also
 * mark them as exiting so that they are not respawned. */
static void
pco_signal_children(pco_cycle_t *cycle, int signo)
{
    size_t  i;

    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid == 0 || (cycle != NULL && pco_procs[i].cycle != cycle)) {
            continue;
        }
        if (signo == SIGQUIT || signo == SIGTERM || signo == SIGKILL) {
            pco_procs[i].exiting = true;
        }
        if (kill(pco_procs[i].pid, signo) == -1 && errno != ESRCH) {
            pco_plog(PCO_LOG_ALERT, errno, "kill(%d, %d) failed", (int) pco_procs[i].pid,
                     signo);
        }
    }
}

static unsigned
pco_children_count(const pco_cycle_t *cycle)
{
    unsigned  i, n = 0;

    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid != 0 && (cycle == NULL || pco_procs[i].cycle == cycle)) {
            n++;
        }
    }
    return n;
}

/* Master: destroys old generations none of whose processes is alive any more. */
static void
pco_retired_collect(void)
{
    unsigned  i;

    for (i = 0; i < PCO_RETIRED_MAX; i++) {
        if (pco_retired[i] != NULL && pco_children_count(pco_retired[i]) == 0) {
            pco_cycle_destroy(pco_retired[i]);
            pco_retired[i] = NULL;
        }
    }
}

static void
pco_retire(pco_cycle_t *old)
{
    unsigned  i;

    for (i = 0; i < PCO_RETIRED_MAX; i++) {
        if (pco_retired[i] == NULL) {
            pco_retired[i] = old;
            return;
        }
    }
    /* more pending generations than slots: keep it alive (bounded by reload rate) */
    pco_plog(PCO_LOG_WARN, 0, "too many old generations alive, one is not freed");
}

static void
pco_count_master(const char *name)
{
    int  id;

    id = pco_counter_find(name);
    if (id >= 0) {
        pco_counter_add(id, 1);
    }
}

static void
pco_child_exited(pco_proc_t *p, int status, pco_msec_t now)
{
    unsigned    pos;
    pco_msec_t  delay;
    bool        crashed;
    int         code;

    crashed = false;
    if (WIFSIGNALED(status)) {
        crashed = true;
        pco_plog(p->exiting ? PCO_LOG_NOTICE : PCO_LOG_ALERT, 0,
                 "%s process %d exited on signal %d%s", pco_proc_name(p), (int) p->pid,
                 WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
    } else {
        code = WEXITSTATUS(status);
        crashed = code != 0;
        pco_plog(code == 0 || p->exiting ? PCO_LOG_NOTICE : PCO_LOG_ALERT, 0,
                 "%s process %d exited with code %d", pco_proc_name(p), (int) p->pid, code);
        if (code == PCO_EXIT_FATAL && !p->exiting) {
            pco_plog(PCO_LOG_ALERT, 0, "%s process %d could not start and is not respawned",
                     pco_proc_name(p), (int) p->pid);
            crashed = false;
        }
    }

    if (p->slot >= 0) {
        pco_counter_slot_fold(p->slot);
    }
    p->pid = 0;

    if (!crashed || p->exiting || p->cycle != pco_cycle || pco_shutting_down
        || pco_no_respawn)
    {
        return;
    }

    pco_count_master("worker_restarts");
    pos = pco_respawn_pos(p->kind, p->index);
    delay = pco_respawn_throttle(&pco_respawns[pos], now);
    if (delay == 0) {
        (void) pco_spawn(p->cycle, p->kind, p->index);
    } else {
        pco_plog(PCO_LOG_WARN, 0, "%s process respawning too often, waiting %lld ms",
                 pco_proc_name(p), (long long) delay);
        pco_respawn_due[pos] = now + delay;
    }
}

static void
pco_reap(pco_msec_t now)
{
    char    oldbin[PATH_MAX + 8];
    pid_t   pid;
    int     status;
    size_t  i;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0) {
            return;
        }
        if (pid == -1) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }

        if (pid == pco_new_binary) {
            pco_plog(PCO_LOG_NOTICE, 0, "new binary process %d exited", (int) pid);
            pco_new_binary = 0;
            if (pco_pid_oldbin) {
                snprintf(oldbin, sizeof(oldbin), "%s.oldbin", pco_pid_path);
                if (rename(oldbin, pco_pid_path) == -1) {
                    pco_plog(PCO_LOG_ALERT, errno, "rename() \"%s\" to \"%s\" failed", oldbin,
                             pco_pid_path);
                }
                pco_pid_oldbin = false;
            }
            if (pco_no_respawn && !pco_shutting_down) {
                pco_no_respawn = false;
                pco_start_missing(pco_cycle);
            }
            continue;
        }

        for (i = 0; i < PCO_PROCS_MAX; i++) {
            if (pco_procs[i].pid == pid) {
                pco_child_exited(&pco_procs[i], status, now);
                break;
            }
        }
    }
}

static void
pco_respawn_pending(pco_msec_t now)
{
    unsigned  i;

    for (i = 0; i < pco_nelems(pco_respawn_due); i++) {
        if (pco_respawn_due[i] != 0 && now >= pco_respawn_due[i]) {
            pco_respawn_due[i] = 0;
            if (pco_shutting_down || pco_no_respawn) {
                continue;
            }
            if (i < PCO_MAX_WORKERS) {
                (void) pco_spawn(pco_cycle, PCO_PROCESS_WORKER, i);
            } else {
                (void) pco_spawn(pco_cycle, PCO_PROCESS_HELPER, i - PCO_MAX_WORKERS);
            }
        }
    }
}

/* Master: arms SIGALRM for the nearest deadline (pending respawn, kill after shutdown). */
static void
pco_master_arm_timer(pco_msec_t now)
{
    struct itimerval  itv;
    pco_msec_t        next = 0;
    unsigned          i;

    if (pco_shutting_down) {
        next = pco_kill_deadline;
    }
    for (i = 0; i < pco_nelems(pco_respawn_due); i++) {
        if (pco_respawn_due[i] != 0 && (next == 0 || pco_respawn_due[i] < next)) {
            next = pco_respawn_due[i];
        }
    }

    memset(&itv, 0, sizeof(itv));
    if (next != 0) {
        next = next > now ? next - now : 1;
        itv.it_value.tv_sec = next / 1000;
        itv.it_value.tv_usec = (next % 1000) * 1000;
    }
    (void) setitimer(ITIMER_REAL, &itv, NULL);
}

/* ---------------------------------------------------------------- master ---- */

static void
pco_raise_nofile(pco_cycle_t *cycle)
{
    struct rlimit  rl;
    rlim_t         want;

    want = (rlim_t) (cycle->core->worker_rlimit_nofile > 0
                     ? cycle->core->worker_rlimit_nofile
                     : 2 * cycle->core->worker_connections + 64);

    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        pco_plog(PCO_LOG_WARN, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= want) {
        return;
    }
    if (rl.rlim_cur == RLIM_INFINITY) {
        return;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        if (geteuid() == 0) {
            rl.rlim_max = want;
        } else {
            rl.rlim_cur = rl.rlim_max;
        }
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
        pco_plog(PCO_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %llu) failed",
                 (unsigned long long) want);
        return;
    }
    if (rl.rlim_cur < want) {
        pco_plog(PCO_LOG_WARN, 0, "RLIMIT_NOFILE is %llu (hard limit), below the %llu that "
                 "worker_connections needs", (unsigned long long) rl.rlim_cur,
                 (unsigned long long) want);
    }
}

static int
pco_pid_file_write(pco_cycle_t *cycle)
{
    char    *path, buf[32];
    int      fd, len;
    ssize_t  n;

    path = pco_conf_full_path(&cycle->conf, (char *) cycle->core->pid.data);
    if (path == NULL) {
        return PCO_ERROR;
    }

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "open() \"%s\" failed", path);
        return PCO_ERROR;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    n = write(fd, buf, (size_t) len);
    if (n != len) {
        pco_plog(PCO_LOG_ALERT, errno, "write() to \"%s\" failed", path);
        close(fd);
        return PCO_ERROR;
    }
    close(fd);

    /* a reload that moved the pid file removes the old one */
    if (pco_pid_path[0] != '\0' && strcmp(pco_pid_path, path) != 0 && !pco_pid_oldbin) {
        (void) unlink(pco_pid_path);
    }
    snprintf(pco_pid_path, sizeof(pco_pid_path), "%s", path);
    return PCO_OK;
}

static void
pco_pid_file_delete(void)
{
    char  oldbin[PATH_MAX + 8];

    if (pco_pid_path[0] == '\0') {
        return;
    }
    if (pco_pid_oldbin) {
        snprintf(oldbin, sizeof(oldbin), "%s.oldbin", pco_pid_path);
        (void) unlink(oldbin);
    } else {
        (void) unlink(pco_pid_path);
    }
}

static int
pco_daemonize(void)
{
    pid_t  pid;
    int    fd;

    pid = fork();
    if (pid == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "fork() failed");
        return PCO_ERROR;
    }
    if (pid != 0) {
        _exit(0);
    }
    if (setsid() == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "setsid() failed");
        return PCO_ERROR;
    }

    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "open(\"/dev/null\") failed");
        return PCO_ERROR;
    }
    (void) dup2(fd, STDIN_FILENO);
    (void) dup2(fd, STDOUT_FILENO);
    /* stderr goes too unless it is the error log itself */
    if (pco_log == NULL || pco_log->fd != STDERR_FILENO) {
        (void) dup2(fd, STDERR_FILENO);
    }
    if (fd > STDERR_FILENO) {
        close(fd);
    }
    return PCO_OK;
}

static int
pco_init_master_hooks(pco_cycle_t *cycle, pco_cycle_t *old)
{
    unsigned  i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->init_master != NULL
            && pco_modules[i]->init_master(cycle, old) != PCO_OK)
        {
            pco_plog(PCO_LOG_ALERT, 0, "module \"%s\" failed to initialise",
                     pco_modules[i]->name);
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* Writes every line the configuration loader printed into the error log. */
static void
pco_log_lines(char *text, size_t len)
{
    char  *p, *nl, *end = text + len;

    for (p = text; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }
        if (nl > p) {
            pco_plog(PCO_LOG_ERR, 0, "%.*s", (int) (nl - p), p);
        }
    }
}

static void
pco_reload(void)
{
    pco_cycle_t  *old = pco_cycle, *cycle;
    char         *text = NULL;
    size_t        len = 0;
    FILE         *mem;

    pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, reconfiguring", SIGHUP,
             pco_signal_name(SIGHUP));

    mem = open_memstream(&text, &len);
    cycle = pco_cycle_create(old->prefix, old->conf_file, old->extra, false,
                             mem != NULL ? mem : stderr);
    if (mem != NULL) {
        fclose(mem);
        pco_log_lines(text, len);
        free(text);
    }
    if (cycle == NULL) {
        goto failed;
    }
    cycle->generation = old->generation + 1;

    pco_raise_nofile(cycle);

    /* zones first: their undo (release what old did not have) is exact */
    if (pco_shm_zones_create(cycle, old) != PCO_OK) {
        pco_cycle_destroy(cycle);
        goto failed;
    }
    if (pco_listen_open(cycle, old) != PCO_OK) {
        pco_shm_zones_release(cycle, old);
        pco_cycle_destroy(cycle);
        goto failed;
    }
    if (pco_init_master_hooks(cycle, old) != PCO_OK || pco_cycle_open_log(cycle) != PCO_OK) {
        pco_listen_close_unused(old, cycle);
        pco_shm_zones_release(cycle, old);
        pco_cycle_destroy(cycle);
        goto failed;
    }

    pco_cycle = cycle;
    pco_log = cycle->log;
    if (!pco_pid_oldbin) {
        (void) pco_pid_file_write(cycle);
    }

    /* the old generation keeps its own descriptors and mappings: the new workers must not
     * inherit listeners that are gone */
    pco_listen_close_unused(cycle, old);
    pco_shm_zones_release(old, cycle);

    pco_no_respawn = false;
    pco_start_processes(cycle);
    pco_signal_children(old, SIGQUIT);
    pco_retire(old);
    pco_retired_collect();
    pco_count_master("reloads");
    return;

failed:
    pco_plog(PCO_LOG_ERR, 0, "configuration reload failed, keeping the old one");
}

static void
pco_exec_new_binary(pco_cycle_t *cycle)
{
    char    oldbin[PATH_MAX + 8], *env, *p, *end;
    pid_t   pid;
    long    fd;
    int     flags;

    pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, changing binary", SIGUSR2,
             pco_signal_name(SIGUSR2));

    if (pco_new_binary > 0) {
        pco_plog(PCO_LOG_ALERT, 0, "the changing binary signal is ignored: a new binary "
                 "process %d is already running", (int) pco_new_binary);
        return;
    }

    env = pco_listen_env(cycle);
    if (env == NULL) {
        pco_plog(PCO_LOG_ALERT, 0, "cannot list the listening sockets for the new binary");
        return;
    }

    snprintf(oldbin, sizeof(oldbin), "%s.oldbin", pco_pid_path);
    if (pco_pid_path[0] != '\0' && rename(pco_pid_path, oldbin) == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "rename() \"%s\" to \"%s\" failed", pco_pid_path,
                 oldbin);
        return;
    }

    pid = fork();
    if (pid == -1) {
        pco_plog(PCO_LOG_ALERT, errno, "fork() failed");
        (void) rename(oldbin, pco_pid_path);
        return;
    }

    if (pid == 0) {
        struct sigaction  sa;
        sigset_t          set;
        size_t            i;

        for (p = env; *p != '\0'; p = end) {
            fd = strtol(p, &end, 10);
            if (end == p) {
                break;
            }
            flags = fcntl((int) fd, F_GETFD);
            if (flags != -1) {
                (void) fcntl((int) fd, F_SETFD, flags & ~FD_CLOEXEC);
            }
            while (*end == ';') {
                end++;
            }
        }
        /* the new binary opens its own error log */
        if (pco_log != NULL && pco_log->fd > STDERR_FILENO) {
            (void) fcntl(pco_log->fd, F_SETFD, FD_CLOEXEC);
        }
        if (setenv("PORTICO_LISTEN", env, 1) == -1) {
            _exit(1);
        }

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        for (i = 0; i < pco_nelems(pco_handled_signals); i++) {
            (void) sigaction(pco_handled_signals[i], &sa, NULL);
        }
        sigemptyset(&set);
        (void) sigprocmask(SIG_SETMASK, &set, NULL);

        execvp(pco_argv[0], pco_argv);
        pco_plog(PCO_LOG_ALERT, errno, "execvp() \"%s\" failed", pco_argv[0]);
        _exit(1);
    }

    pco_new_binary = pid;
    pco_pid_oldbin = pco_pid_path[0] != '\0';
    pco_plog(PCO_LOG_NOTICE, 0, "start new binary process %d", (int) pid);
}

static void
pco_master_exit(pco_cycle_t *cycle)
{
    unsigned  i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->exit_master != NULL) {
            pco_modules[i]->exit_master(cycle);
        }
    }
    pco_pid_file_delete();
    pco_plog(PCO_LOG_NOTICE, 0, "exiting");
    exit(0);
}

static void
pco_master_shutdown(int how, pco_msec_t now)
{
    pco_msec_t  wait;

    if (pco_shutting_down == SIGTERM || pco_shutting_down == how) {
        return;
    }
    pco_shutting_down = how;
    if (how == SIGTERM) {
        wait = PCO_TERM_WAIT;
    } else {
        pco_plog(PCO_LOG_NOTICE, 0, "gracefully shutting down");
        wait = pco_cycle->core->worker_shutdown_timeout + PCO_QUIT_SLACK;
    }
    pco_kill_deadline = now + wait;
    pco_signal_children(NULL, how);
    memset(pco_respawn_due, 0, sizeof(pco_respawn_due));
}

/* Master: everything before the first fork; PCO_ERROR after logging. */
static int
pco_master_start(pco_cycle_t *cycle)
{
    char   title[1024];
    int    slot;
    bool   inherited;

    (void) pco_master_title(title, sizeof(title), pco_argc, pco_argv);
    pco_setproctitle(title);

    pco_raise_nofile(cycle);
    inherited = getenv("PORTICO_LISTEN") != NULL;

    if (pco_listen_open(cycle, NULL) != PCO_OK || pco_shm_zones_create(cycle, NULL) != PCO_OK) {
        return PCO_ERROR;
    }
    /* the master counts reloads and restarts in a slot of its own */
    slot = pco_counter_slot_alloc();
    if (slot >= 0) {
        pco_counter_slot_attach(slot);
    }
    if (pco_init_master_hooks(cycle, NULL) != PCO_OK || pco_cycle_open_log(cycle) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_log = cycle->log;

    if (geteuid() != 0 && pco_conf_is_set(cycle->core, "user")) {
        pco_plog(PCO_LOG_NOTICE, 0, "user is ignored: not running as root");
    }

    /* a new binary started by USR2 stays the old master's child (nginx does the same) */
    if (cycle->core->daemon && !(inherited && getppid() > 1)) {
        if (pco_daemonize() != PCO_OK) {
            return PCO_ERROR;
        }
    }

    return pco_pid_file_write(cycle);
}

/* Master: the signals that do not stop it (HUP, USR1, USR2, WINCH). */
static void
pco_master_signals(void)
{
    if (pco_sig_reconfigure) {
        pco_sig_reconfigure = 0;
        pco_reload();
    }

    if (pco_sig_reopen) {
        pco_sig_reopen = 0;
        pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, reopening logs", SIGUSR1,
                 pco_signal_name(SIGUSR1));
        pco_reopen_files(pco_cycle);
        pco_signal_children(NULL, SIGUSR1);
    }

    if (pco_sig_upgrade) {
        pco_sig_upgrade = 0;
        pco_exec_new_binary(pco_cycle);
    }

    if (pco_sig_winch) {
        pco_sig_winch = 0;
        if (pco_new_binary > 0) {
            pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, gracefully shutting "
                     "down worker processes", SIGWINCH, pco_signal_name(SIGWINCH));
            pco_no_respawn = true;
            memset(pco_respawn_due, 0, sizeof(pco_respawn_due));
            pco_signal_children(NULL, SIGQUIT);
        } else {
            /* a terminal resize must not stop a foreground master's workers */
            pco_plog(PCO_LOG_INFO, 0, "signal %d (%s) ignored: no new binary is running",
                     SIGWINCH, pco_signal_name(SIGWINCH));
        }
    }
}

int
pco_master_run(pco_cycle_t *cycle)
{
    sigset_t    set, empty;
    pco_msec_t  now;

    pco_cycle = cycle;
    pco_process_type = PCO_PROCESS_MASTER;
    pco_worker_index = -1;

    if (pco_signals_init() != PCO_OK) {
        return 1;
    }
    pco_signals_block(&set);
    sigemptyset(&empty);

    if (pco_master_start(cycle) != PCO_OK) {
        return 1;
    }

    pco_plog(PCO_LOG_NOTICE, 0, "%s/%s started", PCO_NAME, PCO_VERSION_STR);
    pco_start_processes(cycle);

    for (;;) {
        pco_master_arm_timer(pco_master_now());
        (void) sigsuspend(&empty);
        pco_time_update();
        now = pco_master_now();
        pco_sig_alarm = 0;

        if (pco_sig_child) {
            pco_sig_child = 0;
            pco_reap(now);
            pco_retired_collect();
        }

        if (pco_sig_terminate) {
            pco_sig_terminate = 0;
            pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, exiting",
                     (int) pco_sig_term_signo, pco_signal_name(pco_sig_term_signo));
            pco_master_shutdown(SIGTERM, now);
        }

        if (pco_sig_quit) {
            pco_sig_quit = 0;
            pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, shutting down", SIGQUIT,
                     pco_signal_name(SIGQUIT));
            pco_master_shutdown(SIGQUIT, now);
        }

        if (pco_shutting_down) {
            if (pco_children_count(NULL) == 0) {
                pco_master_exit(pco_cycle);
            }
            if (now >= pco_kill_deadline) {
                pco_plog(PCO_LOG_ALERT, 0, "%u child processes did not exit in time, "
                         "sending SIGKILL", pco_children_count(NULL));
                pco_signal_children(NULL, SIGKILL);
                pco_kill_deadline = now + PCO_TERM_WAIT;
            }
            continue;
        }

        pco_master_signals();
        pco_respawn_pending(now);
    }

    return 0;
}
