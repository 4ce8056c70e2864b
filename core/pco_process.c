/*
 * pco_process.c: process-wide state and the master's table of child processes.
 *
 * Every process: its type and worker index, the command line kept for binary upgrade, the
 * user to run as, and USR1 log reopening (pco_reopen_files). The master: the table of live
 * children of every generation, forking them (pco_spawn: the child side is pco_worker.c),
 * starting every kind of child of a new generation (pco_child_kinds[]), signalling them,
 * folding the counter slot of one that ended and respawning it when it crashed, through a
 * per-position throttle (pco_respawn_throttle), and freeing old generations once their last
 * process is gone. The master's life cycle (start, reload, upgrade, shutdown) is in
 * pco_master.c, signal handling in pco_signal.c. Shared state touched: counter slots
 * (pco_shm.h).
 */
#include "pco_core.h"
#include "pco_process.h"
#include "pco_process_int.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_shm.h"
#include "pco_procstat.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/time.h>

#define PCO_PROCS_MAX     256
#define PCO_RETIRED_MAX   32

typedef struct {
    pid_t         pid;              /* 0: free entry */
    pco_cycle_t  *cycle;            /* its generation */
    int           kind;             /* PCO_PROCESS_WORKER...: index into pco_child_kinds */
    unsigned      index;            /* within its kind: worker index, index into helpers */
    int           slot;             /* counter slot or -1 */
    bool          exiting;          /* QUIT/TERM sent: never respawned */
} pco_proc_t;

int                    pco_process_type = PCO_PROCESS_MASTER;
int                    pco_worker_index = -1;
int                    pco_argc;
char                 **pco_argv;

static pco_proc_t     pco_procs[PCO_PROCS_MAX];
static pco_respawn_t  pco_respawns[PCO_RESPAWN_POSITIONS];
static pco_msec_t     pco_respawn_due[PCO_RESPAWN_POSITIONS];   /* 0 = none */
static pco_cycle_t   *pco_retired[PCO_RETIRED_MAX];

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

int
pco_respawn_pos_kind(unsigned pos, int *kind, unsigned *index)
{
    const pco_child_kind_t  *k;
    int                      i;

    for (i = PCO_CHILD_KIND_FIRST; i < PCO_CHILD_KIND_END; i++) {
        k = &pco_child_kinds[i];
        if (pos >= k->first && pos - k->first < k->max) {
            *kind = i;
            *index = pos - k->first;
            return PCO_OK;
        }
    }
    return PCO_ERROR;
}

int
pco_child_log_id(const pco_cycle_t *cycle, int kind, unsigned index)
{
    unsigned  id = index;
    int       i;

    for (i = PCO_CHILD_KIND_FIRST; i < kind; i++) {
        id += pco_child_kinds[i].count(cycle);
    }
    return (int) id;
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
            pco_give_to_workers(cycle, log->fd, (char *) log->path.data);
        }
    }

    r = cycle->reopen.elts;
    for (i = 0; i < cycle->reopen.nelts; i++) {
        r[i].handler(cycle, r[i].data);
    }
}

/* ---------------------------------------------------------------- user ---- */

int
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

int
pco_worker_ids(const pco_cycle_t *cycle, uid_t *uid, gid_t *gid)
{
    struct passwd  *pw;
    struct group   *gr;

    if (geteuid() != 0 || cycle == NULL || cycle->core == NULL || cycle->core->user.len == 0) {
        return PCO_DECLINED;
    }
    pw = getpwnam((const char *) cycle->core->user.data);
    if (pw == NULL) {
        pco_plog(PCO_LOG_ALERT, errno, "getpwnam(\"%s\") failed",
                 (const char *) cycle->core->user.data);
        return PCO_ERROR;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (cycle->core->group.len > 0) {
        gr = getgrnam((const char *) cycle->core->group.data);
        if (gr == NULL) {
            pco_plog(PCO_LOG_ALERT, errno, "getgrnam(\"%s\") failed",
                     (const char *) cycle->core->group.data);
            return PCO_ERROR;
        }
        *gid = gr->gr_gid;
    }
    return PCO_OK;
}

void
pco_give_to_workers(const pco_cycle_t *cycle, int fd, const char *path)
{
    struct stat  st;
    uid_t        uid;
    gid_t        gid;

    if (pco_process_type != PCO_PROCESS_MASTER || pco_worker_ids(cycle, &uid, &gid) != PCO_OK) {
        return;
    }
    /* a device or a pipe (/dev/null, /dev/stderr) is not ours to hand over */
    if (fd >= 0 ? fstat(fd, &st) != 0 : stat(path, &st) != 0) {
        return;
    }
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        return;
    }
    if (st.st_uid == uid && st.st_gid == gid) {
        return;
    }
    if ((fd >= 0 ? fchown(fd, uid, gid) : chown(path, uid, gid)) != 0) {
        pco_plog(PCO_LOG_WARN, errno, "chown(\"%s\", %d, %d) failed", path, (int) uid,
                 (int) gid);
    }
}

/* Master: resolves the user and group of cycle for the next forks (checked at load). */
static void
pco_resolve_user(pco_cycle_t *cycle)
{
    pco_run_as_user = false;
    if (pco_worker_ids(cycle, &pco_run_uid, &pco_run_gid) != PCO_OK) {
        return;
    }
    pco_run_as_user = true;
    snprintf(pco_run_user, sizeof(pco_run_user), "%s", (char *) cycle->core->user.data);
}

/* ---------------------------------------------------------------- children ---- */

static const char *
pco_proc_name(const pco_proc_t *p)
{
    return pco_child_kinds[p->kind].name(p->cycle, p->index);
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

    pco_child_master = getpid();
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
    return pco_child_kinds[kind].first + index;
}

void
pco_start_processes(pco_cycle_t *cycle)
{
    unsigned  i, n;
    int       kind;

    pco_resolve_user(cycle);
    memset(pco_respawns, 0, sizeof(pco_respawns));
    memset(pco_respawn_due, 0, sizeof(pco_respawn_due));

    for (kind = PCO_CHILD_KIND_FIRST; kind < PCO_CHILD_KIND_END; kind++) {
        n = pco_child_kinds[kind].count(cycle);
        for (i = 0; i < n; i++) {
            (void) pco_spawn(cycle, kind, i);
        }
    }
}

void
pco_start_missing(pco_cycle_t *cycle)
{
    bool      running[PCO_RESPAWN_POSITIONS];
    unsigned  i, n;
    int       kind;

    memset(running, 0, sizeof(running));
    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid != 0 && pco_procs[i].cycle == cycle && !pco_procs[i].exiting) {
            running[pco_respawn_pos(pco_procs[i].kind, pco_procs[i].index)] = true;
        }
    }
    for (kind = PCO_CHILD_KIND_FIRST; kind < PCO_CHILD_KIND_END; kind++) {
        n = pco_child_kinds[kind].count(cycle);
        for (i = 0; i < n; i++) {
            if (!running[pco_respawn_pos(kind, i)]) {
                (void) pco_spawn(cycle, kind, i);
            }
        }
    }
}

/* Master: signals every child (of generation cycle, or all when NULL); QUIT and TERM also
 * mark them as exiting so that they are not respawned. */
void
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

unsigned
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
void
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

void
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

void
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

void
pco_child_reaped(pid_t pid, int status, pco_msec_t now)
{
    size_t  i;

    for (i = 0; i < PCO_PROCS_MAX; i++) {
        if (pco_procs[i].pid == pid) {
            pco_child_exited(&pco_procs[i], status, now);
            break;
        }
    }
}

void
pco_respawn_pending(pco_msec_t now)
{
    unsigned  i, index;
    int       kind;

    for (i = 0; i < pco_nelems(pco_respawn_due); i++) {
        if (pco_respawn_due[i] != 0 && now >= pco_respawn_due[i]) {
            pco_respawn_due[i] = 0;
            if (pco_shutting_down || pco_no_respawn) {
                continue;
            }
            if (pco_respawn_pos_kind(i, &kind, &index) == PCO_OK) {
                (void) pco_spawn(pco_cycle, kind, index);
            }
        }
    }
}

void
pco_respawn_cancel(void)
{
    memset(pco_respawn_due, 0, sizeof(pco_respawn_due));
}

/* Master: arms SIGALRM for the nearest deadline (pending respawn, kill after shutdown). */
void
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
    /* the master's descriptor and memory gauges (pco_procstat.h) */
    if (pco_procstat_due() != 0 && (next == 0 || pco_procstat_due() < next)) {
        next = pco_procstat_due();
    }

    memset(&itv, 0, sizeof(itv));
    if (next != 0) {
        next = next > now ? next - now : 1;
        itv.it_value.tv_sec = next / 1000;
        itv.it_value.tv_usec = (next % 1000) * 1000;
    }
    (void) setitimer(ITIMER_REAL, &itv, NULL);
}

