/*
 * pco_notify.c: readiness and reload notifications to systemd (Type=notify), without
 * libsystemd. The protocol is one datagram per state change, "KEY=VALUE" lines, sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace).
 * The master sends READY=1 once its first workers are forked, RELOADING=1 (with
 * MONOTONIC_USEC, which systemd 253+ expects) when a HUP starts a reload and READY=1 again
 * when it is over, successful or not, and STOPPING=1 when it begins to stop. A master
 * started by USR2 (binary upgrade) adds MAINPID=<its pid> to its READY=1, so that systemd
 * follows it (the unit needs NotifyAccess=all for that); the old master then exits without
 * STOPPING=1. Without $NOTIFY_SOCKET every call does nothing. Master only; a failed send is
 * logged once at the notice level and never stops portico.
 */
#include "pco_core.h"
#include "pco_notify.h"
#include "pco_log.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static bool  pco_notify_failed;

int
pco_notify(const char *state)
{
    const char          *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un   sa;
    socklen_t            len;
    size_t               n;
    ssize_t              sent;
    int                  fd;

    if (path == NULL || path[0] == '\0') {
        return PCO_DECLINED;
    }
    n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        goto failed;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@') {
        sa.sun_path[0] = '\0';          /* the abstract namespace */
    }
    len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n);

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        goto failed;
    }
    do {
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &sa, len);
    } while (sent == -1 && errno == EINTR);
    close(fd);
    if (sent == -1) {
        goto failed;
    }
    return PCO_OK;

failed:
    if (!pco_notify_failed && pco_log != NULL) {
        pco_notify_failed = true;
        pco_log_err(PCO_LOG_NOTICE, pco_log, errno, "cannot send a notification to "
                    "NOTIFY_SOCKET \"%s\"", path);
    }
    return PCO_ERROR;
}

void
pco_notify_reloading(void)
{
    struct timespec  ts;
    char             buf[96];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu\n",
             (unsigned long long) ts.tv_sec * 1000000ULL
             + (unsigned long long) ts.tv_nsec / 1000ULL);
    (void) pco_notify(buf);
}

void
pco_notify_ready(bool new_main)
{
    char  buf[64];

    if (new_main) {
        snprintf(buf, sizeof(buf), "MAINPID=%d\nREADY=1\n", (int) getpid());
        (void) pco_notify(buf);
    } else {
        (void) pco_notify("READY=1\n");
    }
}
