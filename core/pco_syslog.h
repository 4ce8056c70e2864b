/*
 * pco_syslog.h: syslog targets for the error log and the access logs (docs/logging.md).
 *     syslog:server=unix:/dev/log
 *     syslog:server=127.0.0.1:514,facility=local7,tag=portico,severity=info,nohostname
 * Messages are RFC 5424 ("<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG"), one
 * datagram each, over a Unix datagram socket or UDP. Sending never blocks: the socket is
 * non-blocking and a message that cannot go now is dropped and counted (the counter
 * "syslog_dropped", portico_syslog_dropped_total in the status route). A Unix socket whose
 * receiver went away is reconnected at most once a second.
 */
#ifndef PCO_SYSLOG_H
#define PCO_SYSLOG_H

#include "pco_core.h"
#include <time.h>

#define PCO_SYSLOG_PREFIX     "syslog:"
#define PCO_SYSLOG_MSG_MAX    8192     /* a whole datagram; longer messages are cut */
#define PCO_SYSLOG_TAG_MAX    48       /* RFC 5424 APP-NAME */
#define PCO_SYSLOG_HOST_MAX   255      /* RFC 5424 HOSTNAME */
#define PCO_SYSLOG_RETRY_MS   1000     /* between two reconnections of a Unix socket */

typedef struct pco_syslog_s {
    struct sockaddr_storage  addr;
    socklen_t                addrlen;
    unsigned                 facility;     /* 0..23 (local7 = 23) */
    int                      severity;     /* 0..7; -1 when not given */
    bool                     nohostname;
    char                     tag[PCO_SYSLOG_TAG_MAX + 1];
    char                     hostname[PCO_SYSLOG_HOST_MAX + 1];   /* "-" with nohostname */
    int                      fd;           /* -1 until opened, or after a failure */
    pco_msec_t               retry_at;     /* no reconnection before (monotonic ms) */
    int                      counter;      /* "syslog_dropped" id, or -1 */
} pco_syslog_t;

/* True when a log path names a syslog target ("syslog:..."). */
bool pco_syslog_is_target(const u_char *path, size_t len);

/*
 * Parses a target ("syslog:server=...,facility=...,severity=...,tag=...,nohostname") into
 * t, resolving a host name with getaddrinfo (so the master only, at load). Defaults:
 * facility local7, tag "portico", severity unset (-1), this host's name. On an error
 * returns PCO_ERROR with a message in err ("unknown facility \"x\"", ...); never opens
 * anything.
 */
int pco_syslog_parse(pco_syslog_t *t, const u_char *s, size_t len, char *err, size_t errlen);

/*
 * Formats one RFC 5424 message into buf[0..size): "<PRI>1 TIMESTAMP HOSTNAME APP-NAME
 * PROCID MSGID - MSG", PRI = facility * 8 + severity, TIMESTAMP in UTC with milliseconds
 * ("2026-12-07T19:17:18.042Z"). MSG is cut to what fits. Returns the length, 0 when
 * not even the header fits. Pure.
 */
size_t pco_syslog_format(u_char *buf, size_t size, unsigned facility, unsigned severity,
                         time_t sec, unsigned msec, const char *hostname, const char *tag,
                         long pid, const char *msgid, const u_char *msg, size_t len);

/* Creates the non-blocking socket and connects it; PCO_ERROR with errno (t->fd stays -1,
 * a later send tries again). */
int pco_syslog_open(pco_syslog_t *t);

/* Sends one message; never blocks. severity is 0..7. Drops (and counts) what cannot go. */
void pco_syslog_send(pco_syslog_t *t, unsigned severity, const char *msgid,
                     const u_char *msg, size_t len);

void pco_syslog_close(pco_syslog_t *t);

#endif
