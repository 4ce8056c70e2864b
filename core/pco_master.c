/*
 * pco_master.c: the master process's life cycle.
 *
 * The master binds listeners, creates the shared zones, runs every module's init_master,
 * opens the error log, daemonises, writes the pid file and forks the children of every kind
 * of the current generation (cycle; pco_process.c keeps the table of children). It then only
 * supervises from sigsuspend(): signals set volatile flags (pco_signal.c) and are blocked
 * everywhere else, so the loop below handles them one at a time. HUP builds a new cycle (a
 * rejected one leaves everything untouched) and sends QUIT to the previous generation; CHLD
 * reaps, folds counter slots and respawns crashed processes of the current generation
 * through a throttle; USR2 execs a new binary that inherits the listeners through
 * PORTICO_LISTEN; WINCH stops our workers while that new binary runs; QUIT and TERM stop
 * the children and then the master, with SIGKILL for those still there after a deadline.
 * systemd hears of readiness, reloads and the stop through pco_notify.c.
 * The master's own facts (start time, generation, last reload, descriptors and memory,
 * pco_procstat.h) are refreshed about once a second from the same SIGALRM timer.
 * Shared state touched: the master's counter slot (pco_shm.h), the pid file.
 */
#include "pco_core.h"
#include "pco_process.h"
#include "pco_process_int.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_listen.h"
#include "pco_shm.h"
#include "pco_notify.h"
#include "pco_procstat.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <sys/resource.h>

#define PCO_TERM_WAIT     5000      /* ms before SIGKILL after TERM */
#define PCO_QUIT_SLACK    5000      /* ms after worker_shutdown_timeout before SIGKILL */

int                    pco_shutting_down;
pco_msec_t             pco_kill_deadline;
bool                   pco_no_respawn;

static pid_t           pco_new_binary;            /* USR2 child master, 0 when none */
static bool            pco_pid_oldbin;            /* the pid file was renamed to .oldbin */
static char            pco_pid_path[PATH_MAX];
/* systemd (pco_notify.c): this master was started by USR2 (its parent is the old master),
 * and this master handed the service over to such a new binary (MAINPID) */
static pid_t           pco_upgraded_from;
static bool            pco_handed_over;

/* ---------------------------------------------------------------- master ---- */

static pco_msec_t
pco_master_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (pco_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pco_reap(pco_msec_t now)
{
    char    oldbin[PATH_MAX + 8];
    pid_t   pid;
    int     status;

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
            if (pco_handed_over && !pco_shutting_down) {
                /* the upgrade was rolled back: systemd must follow this master again */
                pco_handed_over = false;
                pco_notify_ready(true);
            }
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

        pco_child_reaped(pid, status, now);
    }
}

static void
pco_raise_nofile(pco_cycle_t *cycle)
{
    struct rlimit  rl;
    rlim_t         want, need;
    bool           exact = cycle->core->worker_rlimit_nofile > 0;

    need = (rlim_t) (2 * cycle->core->worker_connections + 64);
    want = exact ? (rlim_t) cycle->core->worker_rlimit_nofile : need;
    if (exact && want < need) {
        pco_plog(PCO_LOG_WARN, 0, "worker_rlimit_nofile %llu is below the %llu that "
                 "worker_connections needs", (unsigned long long) want,
                 (unsigned long long) need);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        pco_plog(PCO_LOG_WARN, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return;
    }
    /* worker_rlimit_nofile sets the soft limit exactly (as nginx); otherwise it is only
     * raised to what worker_connections needs */
    if (exact ? rl.rlim_cur == want : (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)) {
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

/* PIDFILE.reload: the outcome of the latest reload for `-s reload` (pco_process.h). The
 * master of an old binary leaves it to the new one, which owns the pid file now. */
static void
pco_reload_result(bool ok)
{
    static unsigned  n;
    char             path[PATH_MAX + 16], tmp[PATH_MAX + 24], line[64];
    int              fd, len;

    n++;
    if (pco_pid_path[0] == '\0' || pco_pid_oldbin) {
        return;
    }
    snprintf(path, sizeof(path), "%s" PCO_RELOAD_RESULT_SUFFIX, pco_pid_path);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    len = snprintf(line, sizeof(line), "%d %u %s\n", (int) getpid(), n, ok ? "ok" : "failed");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        pco_plog(PCO_LOG_WARN, errno, "open() \"%s\" failed", tmp);
        return;
    }
    if (write(fd, line, (size_t) len) != len || rename(tmp, path) == -1) {
        pco_plog(PCO_LOG_WARN, errno, "cannot write the reload result to \"%s\"", path);
        (void) unlink(tmp);
    }
    close(fd);
}

static void
pco_pid_file_delete(void)
{
    char  oldbin[PATH_MAX + 8], result[PATH_MAX + 16];

    if (pco_pid_path[0] == '\0') {
        return;
    }
    if (!pco_pid_oldbin) {
        snprintf(result, sizeof(result), "%s" PCO_RELOAD_RESULT_SUFFIX, pco_pid_path);
        (void) unlink(result);
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

/* Writes every line the configuration loader printed into the error log: "FILE:LINE:
 * warning: ..." lines at [warn], the rest (errors) at [error]. */
static void
pco_log_lines(char *text, size_t len)
{
    static const char  tag[] = ": warning: ";
    char              *p, *nl, *end = text + len;
    int                level;

    for (p = text; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            nl = end;
        }
        if (nl > p) {
            level = memmem(p, (size_t) (nl - p), tag, sizeof(tag) - 1) != NULL
                    ? PCO_LOG_WARN : PCO_LOG_ERR;
            pco_plog(level, 0, "%.*s", (int) (nl - p), p);
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
    pco_procstat_reloaded(cycle);
    pco_reload_result(true);
    return;

failed:
    pco_plog(PCO_LOG_ERR, 0, "configuration reload failed, keeping the old one");
    pco_count_master("reloads_failed");
    pco_reload_result(false);
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

        pco_signals_reset();

        execvp(pco_argv[0], pco_argv);
        pco_plog(PCO_LOG_ALERT, errno, "execvp() \"%s\" failed", pco_argv[0]);
        _exit(1);
    }

    pco_new_binary = pid;
    pco_handed_over = true;           /* it announces MAINPID to systemd once it is ready */
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

/*
 * TERM to a master started by USR2 while the old master still runs is the rollback of a
 * binary upgrade: the old generation serves on, so nothing is gained by cutting the new
 * workers' requests in flight. The first such TERM stops gracefully, as QUIT does (no
 * request is lost); a second one is a fast stop.
 */
static bool
pco_rollback_term(void)
{
    static bool  seen;

    if (seen || pco_upgraded_from <= 0 || getppid() != pco_upgraded_from) {
        return false;
    }
    seen = true;
    return true;
}

static void
pco_master_shutdown(int how, pco_msec_t now)
{
    pco_msec_t  wait;

    if (pco_shutting_down == SIGTERM || pco_shutting_down == how) {
        return;
    }
    pco_shutting_down = how;
    /* not when a new binary carries on (this master exits after an upgrade), nor in a new
     * binary whose old master still runs (an upgrade rolled back) */
    if (pco_new_binary == 0 && !(pco_upgraded_from > 0 && getppid() == pco_upgraded_from)) {
        (void) pco_notify("STOPPING=1\n");
    }
    if (how == SIGTERM) {
        wait = PCO_TERM_WAIT;
    } else {
        pco_plog(PCO_LOG_NOTICE, 0, "gracefully shutting down");
        wait = pco_cycle->core->worker_shutdown_timeout + PCO_QUIT_SLACK;
    }
    pco_kill_deadline = now + wait;
    pco_signal_children(NULL, how);
    pco_respawn_cancel();
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

    inherited = getenv("PORTICO_LISTEN") != NULL;

    if (pco_listen_open(cycle, NULL) != PCO_OK || pco_shm_zones_create(cycle, NULL) != PCO_OK) {
        return PCO_ERROR;
    }
    /* the master counts reloads and restarts in a slot of its own */
    slot = pco_counter_slot_alloc();
    if (slot >= 0) {
        pco_counter_slot_attach(slot);
        pco_procstat_master_started(cycle);
    }
    if (pco_init_master_hooks(cycle, NULL) != PCO_OK || pco_cycle_open_log(cycle) != PCO_OK) {
        return PCO_ERROR;
    }
    pco_log = cycle->log;
    pco_raise_nofile(cycle);        /* after the log is open: its warnings belong there */

    if (geteuid() != 0 && PCO_CONF_IS_SET(cycle->core, pco_core_conf_t, user)) {
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
        pco_notify_reloading();
        pco_reload();
        pco_notify_ready(false);      /* systemd waits for it after RELOADING=1, either way */
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
            pco_respawn_cancel();
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

    if (getenv("PORTICO_LISTEN") != NULL) {
        pco_upgraded_from = getppid();
    }
    if (pco_master_start(cycle) != PCO_OK) {
        return 1;
    }

    pco_plog(PCO_LOG_NOTICE, 0, "%s/%s started", PCO_NAME, PCO_VERSION_STR);
    pco_start_processes(cycle);
    pco_notify_ready(pco_upgraded_from > 0);

    for (;;) {
        pco_master_arm_timer(pco_master_now());
        (void) sigsuspend(&empty);
        pco_time_update();
        now = pco_master_now();
        pco_sig_alarm = 0;
        pco_procstat_refresh(now);

        if (pco_sig_child) {
            pco_sig_child = 0;
            pco_reap(now);
            pco_retired_collect();
        }

        if (pco_sig_terminate) {
            pco_sig_terminate = 0;
            if (pco_rollback_term()) {
                pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received while the old master "
                         "%d runs on: a binary upgrade rolled back, shutting down gracefully "
                         "(send it again to exit at once)", (int) pco_sig_term_signo,
                         pco_signal_name(pco_sig_term_signo), (int) pco_upgraded_from);
                pco_master_shutdown(SIGQUIT, now);
            } else {
                pco_plog(PCO_LOG_NOTICE, 0, "signal %d (%s) received, exiting",
                         (int) pco_sig_term_signo, pco_signal_name(pco_sig_term_signo));
                pco_master_shutdown(SIGTERM, now);
            }
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
