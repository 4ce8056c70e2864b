/*
 * pco_log.c: the error log. A line is formatted into a fixed 2048-byte buffer
 * ("TIME [level] PID#WORKER: message (errno: strerror)" + the log's context callback + "\n")
 * and written with one write() to an O_APPEND descriptor, so lines from several processes
 * never interleave; longer lines are truncated. Before configuration the process-wide log
 * is stderr at notice. A log with a syslog target sends the line (without its local time
 * and newline) as one datagram instead (core/pco_syslog.c).
 */
#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include "pco_log.h"
#include "pco_time.h"
#include "pco_syslog.h"

#define PCO_LOG_LINE_MAX 2048

static pco_log_t  pco_log_stderr_log = {
    .level = PCO_LOG_NOTICE,
    .fd = STDERR_FILENO,
    .path = pco_string("stderr"),
    .also_stderr = false,
};

pco_log_t  *pco_log = &pco_log_stderr_log;
int         pco_log_worker_id;

static const char *pco_log_levels[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

void
pco_log_init_stderr(void)
{
    pco_log_stderr_log.level = PCO_LOG_NOTICE;
    pco_log_stderr_log.fd = STDERR_FILENO;
    pco_log = &pco_log_stderr_log;
}

int
pco_log_level_by_name(const char *name)
{
    unsigned  i;

    for (i = PCO_LOG_ALERT; i <= PCO_LOG_DEBUG; i++) {
        if (strcmp(name, pco_log_levels[i]) == 0) {
#ifndef PCO_DEBUG
            if (i == PCO_LOG_DEBUG) {
                return -1;
            }
#endif
            return (int) i;
        }
    }
    return -1;
}

const char *
pco_log_level_name(unsigned level)
{
    if (level >= pco_nelems(pco_log_levels)) {
        return "unknown";
    }
    return pco_log_levels[level];
}

int
pco_log_open_file(const char *path)
{
    if (strcmp(path, "stderr") == 0) {
        return STDERR_FILENO;
    }
    /* logs hold client addresses: not for every local user (0640, as distributions do) */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

static void
pco_log_write(int fd, const u_char *buf, size_t len)
{
    ssize_t  n;

    do {
        n = write(fd, buf, len);
    } while (n == -1 && errno == EINTR);
}

void
pco_log_error(unsigned level, pco_log_t *log, int err, const char *fmt, ...)
{
    u_char   buf[PCO_LOG_LINE_MAX];
    u_char  *p, *end, *msg;
    va_list  args;
    int      n;
    size_t   room;

    if (log == NULL) {
        log = pco_log;
    }
    if (pco_cached_err_log_time.len == 0) {
        pco_time_update();
    }
    end = buf + sizeof(buf) - 1;     /* keep one byte for the "\n" */
    p = buf;

    n = snprintf((char *) p, (size_t) (end - p), "%.*s [%s] %d#%d: ",
                 (int) pco_cached_err_log_time.len, pco_cached_err_log_time.data,
                 pco_log_level_name(level), (int) getpid(), pco_log_worker_id);
    p += pco_min((size_t) pco_max(n, 0), (size_t) (end - p) - 1);
    msg = buf + pco_min(pco_cached_err_log_time.len + 1, (size_t) (p - buf));

    va_start(args, fmt);
    n = vsnprintf((char *) p, (size_t) (end - p), fmt, args);
    va_end(args);
    room = (size_t) (end - p);
    p += (n < 0) ? 0 : pco_min((size_t) n, room > 0 ? room - 1 : 0);

    if (err != 0 && end - p > 1) {
        n = snprintf((char *) p, (size_t) (end - p), " (%d: %s)", err, strerror(err));
        room = (size_t) (end - p);
        p += (n < 0) ? 0 : pco_min((size_t) n, room - 1);
    }
    if (log->context != NULL && p < end) {
        p = log->context(log, p, end);
        if (p > end) {
            p = end;
        }
    }
    if (log->syslog != NULL) {
        /* the syslog severities are our levels' numbers (emerg 0 ... debug 7) */
        pco_syslog_send(log->syslog, level, "error", msg, (size_t) (p - msg));
    }
    *p++ = '\n';

    if (log->syslog == NULL) {
        pco_log_write(log->fd, buf, (size_t) (p - buf));
    }
    if (log->also_stderr && log->fd != STDERR_FILENO) {
        pco_log_write(STDERR_FILENO, buf, (size_t) (p - buf));
    }
}
