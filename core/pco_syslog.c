/*
 * pco_syslog.c: syslog targets (pco_syslog.h). The parser runs at load in the master (a
 * host name is resolved there, once); the socket is opened by the master and inherited by
 * the workers, each of which then owns its copy: a worker that reconnects replaces only its
 * own descriptor. Sending is one send(MSG_DONTWAIT) of one formatted datagram: a full
 * receiver (EAGAIN, ENOBUFS) or one that is gone (ECONNREFUSED, ENOENT) costs the message,
 * never a wait, and the loss is counted in the shared counter "syslog_dropped" (workers and
 * helpers only: the master has no counter slot).
 */
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <netdb.h>
#include <arpa/inet.h>
#include "pco_syslog.h"
#include "pco_shm.h"
#include "pco_time.h"

static const char *const  pco_syslog_facilities[] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
    "local3", "local4", "local5", "local6", "local7"
};

/* The error log's level names, in syslog severity order (emerg = 0 ... debug = 7). */
static const char *const  pco_syslog_severities[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

bool
pco_syslog_is_target(const u_char *path, size_t len)
{
    return len >= sizeof(PCO_SYSLOG_PREFIX) - 1
           && memcmp(path, PCO_SYSLOG_PREFIX, sizeof(PCO_SYSLOG_PREFIX) - 1) == 0;
}

static int
pco_syslog_index(const char *const *names, size_t n, const u_char *v, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (strlen(names[i]) == len && memcmp(names[i], v, len) == 0) {
            return (int) i;
        }
    }
    return -1;
}

/* "unix:/path", "[v6]:port", "host:port" or "host" (port 514). */
static int
pco_syslog_parse_server(pco_syslog_t *t, const u_char *v, size_t len, char *err, size_t el)
{
    struct sockaddr_un  *sun = (struct sockaddr_un *) &t->addr;
    struct addrinfo      hints, *res = NULL;
    char                 host[256], port[8] = "514";
    const u_char        *colon = NULL, *h = v;
    size_t               hlen = len, i;
    int                  rc;

    if (len > 5 && memcmp(v, "unix:", 5) == 0) {
        if (len - 5 >= sizeof(sun->sun_path) || v[5] != '/') {
            snprintf(err, el, "bad unix socket path \"%.*s\" (absolute, at most %zu bytes)",
                     (int) (len - 5), (const char *) v + 5, sizeof(sun->sun_path) - 1);
            return PCO_ERROR;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, v + 5, len - 5);
        sun->sun_path[len - 5] = '\0';
        t->addrlen = (socklen_t) sizeof(struct sockaddr_un);
        return PCO_OK;
    }
    if (len > 0 && v[0] == '[') {
        const u_char *rb = memchr(v, ']', len);

        if (rb == NULL) {
            snprintf(err, el, "missing \"]\" in \"%.*s\"", (int) len, (const char *) v);
            return PCO_ERROR;
        }
        h = v + 1;
        hlen = (size_t) (rb - h);
        colon = (rb + 1 < v + len) ? rb + 1 : NULL;
        if (colon != NULL && *colon != ':') {
            snprintf(err, el, "bad server \"%.*s\"", (int) len, (const char *) v);
            return PCO_ERROR;
        }
    } else {
        colon = memchr(v, ':', len);
        if (colon != NULL) {
            hlen = (size_t) (colon - v);
        }
    }
    if (colon != NULL) {
        size_t plen = (size_t) (v + len - colon - 1);
        long   p = 0;

        for (i = 0; i < plen; i++) {
            if (colon[1 + i] < '0' || colon[1 + i] > '9' || p > 65535) {
                break;
            }
            p = p * 10 + (colon[1 + i] - '0');
        }
        if (plen == 0 || i < plen || p < 1 || p > 65535) {
            snprintf(err, el, "bad port in \"%.*s\"", (int) len, (const char *) v);
            return PCO_ERROR;
        }
        snprintf(port, sizeof(port), "%ld", p);
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, el, "bad server \"%.*s\"", (int) len, (const char *) v);
        return PCO_ERROR;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(t->addr)) {
        snprintf(err, el, "cannot resolve \"%s\": %s", host,
                 rc != 0 ? gai_strerror(rc) : "no address");
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return PCO_ERROR;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return PCO_OK;
}

/* RFC 5424 APP-NAME is printable US-ASCII; we keep to letters, digits, "_", "-" and "."
 * so that a tag never needs quoting in a receiver's rules. */
static bool
pco_syslog_tag_ok(const u_char *v, size_t len)
{
    size_t  i;

    if (len == 0 || len > PCO_SYSLOG_TAG_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z')
              || (v[i] >= '0' && v[i] <= '9') || v[i] == '_' || v[i] == '-' || v[i] == '.'))
        {
            return false;
        }
    }
    return true;
}

/* This host's name as RFC 5424 HOSTNAME: printable US-ASCII without spaces, "-" if none. */
static void
pco_syslog_hostname(pco_syslog_t *t)
{
    size_t  i, n = 0;
    char    name[PCO_SYSLOG_HOST_MAX + 1];

    if (gethostname(name, sizeof(name)) != 0) {
        name[0] = '\0';
    }
    name[sizeof(name) - 1] = '\0';
    for (i = 0; name[i] != '\0'; i++) {
        if (name[i] > 32 && name[i] < 127) {
            t->hostname[n++] = name[i];
        }
    }
    if (n == 0) {
        t->hostname[n++] = '-';
    }
    t->hostname[n] = '\0';
}

static int
pco_syslog_parse_param(pco_syslog_t *t, const u_char *k, size_t klen, const u_char *v,
                       size_t vlen, bool *server, char *err, size_t el)
{
    int  i;

#define PCO_SYSLOG_KEY(lit)  (klen == sizeof(lit) - 1 && memcmp(k, lit, klen) == 0)
    if (PCO_SYSLOG_KEY("nohostname") && v == NULL) {
        t->nohostname = true;
        return PCO_OK;
    }
    if (v == NULL) {
        snprintf(err, el, "unknown parameter \"%.*s\" (server=, facility=, severity=, tag=, "
                 "nohostname)", (int) klen, (const char *) k);
        return PCO_ERROR;
    }
    if (PCO_SYSLOG_KEY("server")) {
        *server = true;
        return pco_syslog_parse_server(t, v, vlen, err, el);
    }
    if (PCO_SYSLOG_KEY("facility")) {
        i = pco_syslog_index(pco_syslog_facilities, pco_nelems(pco_syslog_facilities), v,
                             vlen);
        if (i < 0) {
            snprintf(err, el, "unknown facility \"%.*s\" (kern, user, daemon, ..., local0 to "
                     "local7)", (int) vlen, (const char *) v);
            return PCO_ERROR;
        }
        t->facility = (unsigned) i;
        return PCO_OK;
    }
    if (PCO_SYSLOG_KEY("severity")) {
        i = pco_syslog_index(pco_syslog_severities, pco_nelems(pco_syslog_severities), v,
                             vlen);
        if (i < 0) {
            snprintf(err, el, "unknown severity \"%.*s\" (emerg, alert, crit, error, warn, "
                     "notice, info, debug)", (int) vlen, (const char *) v);
            return PCO_ERROR;
        }
        t->severity = i;
        return PCO_OK;
    }
    if (PCO_SYSLOG_KEY("tag")) {
        if (!pco_syslog_tag_ok(v, vlen)) {
            snprintf(err, el, "bad tag \"%.*s\" (1 to %d letters, digits, \"_\", \"-\", \".\")",
                     (int) vlen, (const char *) v, PCO_SYSLOG_TAG_MAX);
            return PCO_ERROR;
        }
        memcpy(t->tag, v, vlen);
        t->tag[vlen] = '\0';
        return PCO_OK;
    }
#undef PCO_SYSLOG_KEY
    snprintf(err, el, "unknown parameter \"%.*s\" (server=, facility=, severity=, tag=, "
             "nohostname)", (int) klen, (const char *) k);
    return PCO_ERROR;
}

int
pco_syslog_parse(pco_syslog_t *t, const u_char *s, size_t len, char *err, size_t errlen)
{
    const u_char  *p, *end, *comma, *eq;
    bool           server = false;

    memset(t, 0, sizeof(*t));
    t->fd = -1;
    t->counter = -1;
    t->severity = -1;
    t->facility = 23;                      /* local7, as nginx */
    memcpy(t->tag, PCO_NAME, sizeof(PCO_NAME));
    if (!pco_syslog_is_target(s, len)) {
        snprintf(err, errlen, "a syslog target starts with \"syslog:\"");
        return PCO_ERROR;
    }
    p = s + sizeof(PCO_SYSLOG_PREFIX) - 1;
    end = s + len;
    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        if (comma == NULL) {
            comma = end;
        }
        eq = memchr(p, '=', (size_t) (comma - p));
        if (comma == p) {
            snprintf(err, errlen, "empty parameter");
            return PCO_ERROR;
        }
        if (pco_syslog_parse_param(t, p, (size_t) ((eq ? eq : comma) - p), eq ? eq + 1 : NULL,
                                   eq ? (size_t) (comma - eq - 1) : 0, &server, err, errlen)
            != PCO_OK)
        {
            return PCO_ERROR;
        }
        p = comma + (comma < end);
        if (comma + 1 == end) {
            snprintf(err, errlen, "empty parameter");
            return PCO_ERROR;
        }
    }
    if (!server) {
        snprintf(err, errlen, "no server= (e.g. syslog:server=unix:/dev/log)");
        return PCO_ERROR;
    }
    if (t->nohostname) {
        memcpy(t->hostname, "-", 2);
    } else {
        pco_syslog_hostname(t);
    }
    return PCO_OK;
}

size_t
pco_syslog_format(u_char *buf, size_t size, unsigned facility, unsigned severity,
                  time_t sec, unsigned msec, const char *hostname, const char *tag,
                  long pid, const char *msgid, const u_char *msg, size_t len)
{
    struct tm  tm;
    int        n;
    size_t     head;

    if (gmtime_r(&sec, &tm) == NULL) {
        memset(&tm, 0, sizeof(tm));
    }
    n = snprintf((char *) buf, size, "<%u>1 %04d-%02d-%02dT%02d:%02d:%02d.%03uZ %s %s %ld %s - ",
                 facility * 8 + (severity & 7), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, msec % 1000, hostname, tag, pid, msgid);
    if (n < 0 || (size_t) n >= size) {
        return 0;               /* not even the header fits: nothing worth sending */
    }
    head = (size_t) n;
    len = pco_min(len, size - head);
    memcpy(buf + head, msg, len);
    return head + len;
}

int
pco_syslog_open(pco_syslog_t *t)
{
    int  fd;

    fd = socket(t->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return PCO_ERROR;
    }
    if (connect(fd, (struct sockaddr *) &t->addr, t->addrlen) != 0) {
        int e = errno;

        close(fd);
        errno = e;
        return PCO_ERROR;
    }
    pco_syslog_close(t);
    t->fd = fd;
    return PCO_OK;
}

void
pco_syslog_close(pco_syslog_t *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

/* Connects again when allowed (at most once per PCO_SYSLOG_RETRY_MS): a Unix receiver
 * that restarted (rsyslog, journald) binds a new socket at the same path. */
static bool
pco_syslog_reconnect(pco_syslog_t *t)
{
    if (pco_current_msec < t->retry_at) {
        return false;
    }
    t->retry_at = pco_current_msec + PCO_SYSLOG_RETRY_MS;
    return pco_syslog_open(t) == PCO_OK;
}

static void
pco_syslog_dropped(pco_syslog_t *t)
{
    pco_counter_add(t->counter, 1);
}

void
pco_syslog_send(pco_syslog_t *t, unsigned severity, const char *msgid, const u_char *msg,
                size_t len)
{
    u_char   buf[PCO_SYSLOG_MSG_MAX];
    size_t   n;
    ssize_t  rc;
    int      attempt;

    if (t->fd < 0 && !pco_syslog_reconnect(t)) {
        pco_syslog_dropped(t);
        return;
    }
    if (pco_time_sec == 0) {
        pco_time_update();
    }
    n = pco_syslog_format(buf, sizeof(buf), t->facility, severity, pco_time_sec,
                          pco_time_msec_part, t->hostname, t->tag, (long) getpid(), msgid,
                          msg, len);
    for (attempt = 0; attempt < 2; attempt++) {
        rc = send(t->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (rc >= 0) {
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        /* a Unix receiver that is gone: reconnect (rate-limited) and try this one again;
         * UDP reports an earlier datagram's ICMP error here: this one is lost */
        if (t->addr.ss_family == AF_UNIX
            && (errno == ECONNREFUSED || errno == ENOENT || errno == ENOTCONN))
        {
            pco_syslog_close(t);
            if (attempt == 0 && pco_syslog_reconnect(t)) {
                continue;
            }
        }
        break;
    }
    pco_syslog_dropped(t);
}
