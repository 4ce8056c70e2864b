/*
 * pco_log.h: the error log. Lines read
 *   2026/11/28 14:33:53 [error] 1234#0: message, client: 1.2.3.4, request: "GET / HTTP/1.1"
 * The level is checked before anything is formatted. A log may carry a context callback
 * (set by the HTTP module on a connection) that appends the ", client: ..." parts.
 * With a syslog target (core/pco_syslog.h) a line is sent as one RFC 5424 message whose
 * severity is the line's level, MSGID "error", and MSG the line without its local time
 * ("[error] 1234#0: message, client: ..."): the message header carries the time.
 */
#ifndef PCO_LOG_H
#define PCO_LOG_H

#include "pco_core.h"

enum {
    PCO_LOG_STDERR = 0,   /* always written, no prefix filtering: start-up problems */
    PCO_LOG_ALERT,
    PCO_LOG_CRIT,
    PCO_LOG_ERR,
    PCO_LOG_WARN,
    PCO_LOG_NOTICE,
    PCO_LOG_INFO,
    PCO_LOG_DEBUG
};

/* Appends context (", client: ..., request: ...") to buf[0..len), returns new end. */
typedef u_char *(*pco_log_context_pt)(pco_log_t *log, u_char *buf, u_char *end);

struct pco_log_s {
    unsigned            level;
    int                 fd;             /* the open error-log file, or 2 */
    pco_str_t           path;           /* "stderr" or a file path (for reopen) */
    bool                also_stderr;    /* daemon = false: copy lines to stderr too */
    struct pco_syslog_s *syslog;        /* a syslog target: lines go there, not to fd */
    pco_log_context_pt  context;        /* optional */
    void               *data;           /* for context */
};

extern pco_log_t  *pco_log;             /* the process-wide error log */
extern int         pco_log_worker_id;   /* printed after the pid: "1234#0" */

void pco_log_error(unsigned level, pco_log_t *log, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* (the parameters are not called level/log: "(log)->level" would expand the member name) */
#define pco_log_err(lvl_, log_, err_, ...)                                      \
    do {                                                                        \
        if ((log_)->level >= (unsigned) (lvl_)) {                               \
            pco_log_error(lvl_, log_, err_, __VA_ARGS__);                       \
        }                                                                       \
    } while (0)

#ifdef PCO_DEBUG
#define pco_log_debug(log, ...) pco_log_err(PCO_LOG_DEBUG, log, 0, __VA_ARGS__)
#else
#define pco_log_debug(log, ...) do { } while (0)
#endif

/* "alert" -> PCO_LOG_ALERT ...; -1 for an unknown name. "debug" only with --with-debug. */
int pco_log_level_by_name(const char *name);
const char *pco_log_level_name(unsigned level);
/* Opens (O_APPEND|O_CREAT, 0644) or reuses stderr; returns fd or -1 with errno. */
int pco_log_open_file(const char *path);
/* Sets the process-wide log (the first one is a stderr log at NOTICE before config). */
void pco_log_init_stderr(void);

#endif
