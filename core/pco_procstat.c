/*
 * pco_procstat.c: the process facts of pco_procstat.h: open descriptors (/proc/self/fd)
 * and resident memory (/proc/self/statm) of each process, written into its
 * own counter slot, and the master's start time, configuration generation and last
 * successful reload. Counter names: process_open_fds:KIND, process_rss_bytes:KIND,
 * process_start_time_seconds, config_generation, config_reload_last_success_seconds.
 * Shared state touched: this process's counter slot only.
 */
#include "pco_core.h"
#include "pco_procstat.h"
#include "pco_cycle.h"
#include "pco_shm.h"
#include "pco_log.h"
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int         pco_procstat_fds_id = -1;      /* this process's, after attach */
static int         pco_procstat_rss_id = -1;
static bool        pco_procstat_on;
static pco_msec_t  pco_procstat_last;

void
pco_procstat_kind(char *buf, size_t size, const char *title)
{
    size_t  i;

    snprintf(buf, size, "%s", title);
    for (i = 0; buf[i] != '\0'; i++) {
        if (buf[i] == ' ' || buf[i] == ':') {
            buf[i] = '_';
        }
    }
}

int
pco_procstat_register(pco_conf_t *cf, pco_cycle_t *cycle, const char *kind)
{
    char  name[PCO_COUNTER_NAME_LEN];

    snprintf(name, sizeof(name), "process_open_fds:%.*s", PCO_PROCSTAT_KIND_LEN, kind);
    if (pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE) < 0) {
        return PCO_ERROR;
    }
    snprintf(name, sizeof(name), "process_rss_bytes:%.*s", PCO_PROCSTAT_KIND_LEN, kind);
    return pco_counter_register(cf, cycle, name, PCO_COUNTER_GAUGE) < 0 ? PCO_ERROR : PCO_OK;
}

int
pco_procstat_register_core(pco_conf_t *cf, pco_cycle_t *cycle)
{
    /* the master's facts are gauges of its own slot, which never folds */
    if (pco_counter_register(cf, cycle, "process_start_time_seconds", PCO_COUNTER_GAUGE) < 0
        || pco_counter_register(cf, cycle, "config_generation", PCO_COUNTER_GAUGE) < 0
        || pco_counter_register(cf, cycle, "config_reload_last_success_seconds",
                                PCO_COUNTER_GAUGE) < 0
        || pco_procstat_register(cf, cycle, "master") != PCO_OK
        || pco_procstat_register(cf, cycle, "worker") != PCO_OK)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

int64_t
pco_procstat_statm_rss(const char *text)
{
    char      *end;
    long long  size, rss;

    size = strtoll(text, &end, 10);
    if (end == text || *end != ' ' || size < 0) {
        return -1;
    }
    text = end + 1;
    rss = strtoll(text, &end, 10);
    if (end == text || rss < 0) {
        return -1;
    }
    return (int64_t) rss;
}

/* Resident bytes of this process, -1 when /proc cannot tell. */
static int64_t
pco_procstat_rss(void)
{
    char     buf[128];
    ssize_t  n;
    int      fd;
    int64_t  pages;

    fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return -1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    pages = pco_procstat_statm_rss(buf);
    return pages < 0 ? -1 : pages * (int64_t) sysconf(_SC_PAGESIZE);
}

/*
 * Open descriptors of this process. Linux 6.2 and later give the count as the size of
 * /proc/self/fd: one stat(), a few microseconds whatever the count. Older kernels say 0
 * there; then the directory is read, which costs about 4 us per descriptor (45 ms for
 * 10,000 on a test machine): a worker with many connections reads it only every
 * count/1,000 seconds, so a busy worker never stalls for it more than once in a while.
 */
static int64_t
pco_procstat_fds(pco_msec_t now)
{
    static int64_t     last = -1;
    static pco_msec_t  next;
    struct stat        st;
    DIR               *d;
    struct dirent     *e;
    int64_t            n = 0;

    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0) {
        return (int64_t) st.st_size;
    }
    if (last >= 0 && now != 0 && now < next) {
        return last;
    }
    d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    last = n - 1;                        /* not the descriptor that read the list */
    next = now + PCO_PROCSTAT_PERIOD * (last / 1000);
    return last;
}

static void
pco_procstat_write(pco_msec_t now)
{
    int64_t  v;

    v = pco_procstat_fds(now);
    if (v >= 0) {
        pco_counter_set(pco_procstat_fds_id, v);
    }
    v = pco_procstat_rss();
    if (v >= 0) {
        pco_counter_set(pco_procstat_rss_id, v);
    }
}

void
pco_procstat_attach(const char *kind)
{
    char  name[PCO_COUNTER_NAME_LEN];

    snprintf(name, sizeof(name), "process_open_fds:%.*s", PCO_PROCSTAT_KIND_LEN, kind);
    pco_procstat_fds_id = pco_counter_find(name);
    snprintf(name, sizeof(name), "process_rss_bytes:%.*s", PCO_PROCSTAT_KIND_LEN, kind);
    pco_procstat_rss_id = pco_counter_find(name);
    pco_procstat_on = pco_procstat_fds_id >= 0 || pco_procstat_rss_id >= 0;
    pco_procstat_last = 0;
    if (pco_procstat_on) {
        pco_procstat_write(0);
    }
}

void
pco_procstat_refresh(pco_msec_t now)
{
    if (!pco_procstat_on || (pco_procstat_last != 0
                             && now - pco_procstat_last < PCO_PROCSTAT_PERIOD))
    {
        return;
    }
    pco_procstat_last = now;
    pco_procstat_write(now);
}

pco_msec_t
pco_procstat_due(void)
{
    return pco_procstat_on ? pco_procstat_last + PCO_PROCSTAT_PERIOD : 0;
}

static void
pco_procstat_set(const char *name, int64_t v)
{
    pco_counter_set(pco_counter_find(name), v);
}

void
pco_procstat_master_started(const pco_cycle_t *cycle)
{
    pco_procstat_set("process_start_time_seconds", (int64_t) time(NULL));
    pco_procstat_set("config_generation", (int64_t) cycle->generation + 1);
    pco_procstat_attach("master");
}

void
pco_procstat_reloaded(const pco_cycle_t *cycle)
{
    pco_procstat_set("config_generation", (int64_t) cycle->generation + 1);
    pco_procstat_set("config_reload_last_success_seconds", (int64_t) time(NULL));
    pco_procstat_write(0);       /* a reload changes the master's memory and descriptors */
}
