/*
 * pco_main.c: the command line. Parses the options (pco_cli_parse, a pure function),
 * prints the version and build details (-v, -V), checks and dumps the configuration
 * (-t, -T), signals a running master through its pid file (-s) and otherwise hands the
 * loaded cycle to the master (pco_process.c). Paths: -p is the prefix (default
 * PCO_PREFIX); -c defaults to PREFIX/PCO_CONF_PATH and a relative -c is relative to the
 * prefix, as in nginx. Touches no shared state.
 */
#include "pco_core.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_time.h"
#include "pco_process.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <openssl/crypto.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <zlib.h>
#include <libconfig.h>

#ifndef PCO_CC_VERSION
#define PCO_CC_VERSION "unknown compiler"
#endif

static void
pco_usage(FILE *out)
{
    fprintf(out,
        "Usage: %s [-c FILE] [-p PREFIX] [-g SETTINGS] [-t | -T] "
        "[-s stop|quit|reload|reopen] [-v | -V] [-h]\n"
        "\n"
        "Options:\n"
        "  -h            this help\n"
        "  -v            show the version and exit\n"
        "  -V            show the version and build details and exit\n"
        "  -t            test the configuration and exit\n"
        "  -T            test the configuration, print it with defaults and exit\n"
        "  -s SIGNAL     send a signal to the master: stop, quit, reload, reopen\n"
        "  -p PREFIX     prefix for relative paths (default: %s)\n"
        "  -c FILE       configuration file (default: %s%s)\n"
        "  -g SETTINGS   extra top-level settings, e.g. 'daemon = false;'\n",
        PCO_NAME, PCO_PREFIX, PCO_CONF_PATH[0] == '/' ? "" : "PREFIX/", PCO_CONF_PATH);
}

int
pco_cli_parse(int argc, char *const *argv, pco_cli_t *cli, FILE *err)
{
    const char  *p, *value, **target;
    int          i;

    memset(cli, 0, sizeof(pco_cli_t));

    for (i = 1; i < argc; i++) {
        p = argv[i];
        if (p[0] != '-' || p[1] == '\0') {
            fprintf(err, "%s: invalid option: \"%s\"\n", PCO_NAME, p);
            return PCO_ERROR;
        }

        for (p++; *p != '\0'; p++) {
            target = NULL;
            switch (*p) {
            case 'h':
            case '?':
                cli->help = true;
                continue;
            case 'v':
                cli->version = true;
                continue;
            case 'V':
                cli->version = true;
                cli->version_full = true;
                continue;
            case 't':
                cli->test = true;
                continue;
            case 'T':
                cli->test = true;
                cli->dump = true;
                continue;
            case 'c':
                target = &cli->conf_file;
                break;
            case 'p':
                target = &cli->prefix;
                break;
            case 'g':
                target = &cli->extra;
                break;
            case 's':
                target = &cli->signal;
                break;
            default:
                fprintf(err, "%s: invalid option: \"%c\"\n", PCO_NAME, *p);
                return PCO_ERROR;
            }

            /* an option with a value: the rest of this argument or the next one */
            if (p[1] != '\0') {
                value = p + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                fprintf(err, "%s: option \"-%c\" requires %s\n", PCO_NAME, *p,
                        *p == 'c' ? "file name" : *p == 'p' ? "prefix"
                        : *p == 'g' ? "settings" : "signal name");
                return PCO_ERROR;
            }
            if (value[0] == '\0') {
                fprintf(err, "%s: option \"-%c\" requires a non-empty value\n", PCO_NAME, *p);
                return PCO_ERROR;
            }
            *target = value;

            if (target == &cli->signal
                && strcmp(value, "stop") != 0 && strcmp(value, "quit") != 0
                && strcmp(value, "reload") != 0 && strcmp(value, "reopen") != 0)
            {
                fprintf(err, "%s: invalid option: \"-s %s\"\n", PCO_NAME, value);
                return PCO_ERROR;
            }
            break;
        }
    }

    return PCO_OK;
}

/* The line of PIDFILE.reload (pco_process.h) into buf; "" when there is none. */
static void
pco_reload_result_read(const char *pid_path, char *buf, size_t size)
{
    char     path[PATH_MAX + 16];
    int      fd;
    ssize_t  n;

    buf[0] = '\0';
    snprintf(path, sizeof(path), "%s" PCO_RELOAD_RESULT_SUFFIX, pid_path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

/* After HUP: waits for the master to write the outcome of this reload. 0 when it took the
 * new configuration; 1 when it kept the old one (the reason is in its error log), died or
 * said nothing within PCO_RELOAD_WAIT ms. */
static int
pco_reload_wait(const char *pid_path, pid_t pid, const char *before)
{
    struct timespec  step = { 0, 50 * 1000000L };
    char             line[64], mine[24];
    unsigned         waited;

    snprintf(mine, sizeof(mine), "%d ", (int) pid);
    for (waited = 0; waited < PCO_RELOAD_WAIT; waited += 50) {
        (void) nanosleep(&step, NULL);
        pco_reload_result_read(pid_path, line, sizeof(line));
        if (strcmp(line, before) == 0 || strncmp(line, mine, strlen(mine)) != 0) {
            if (kill(pid, 0) == -1 && errno == ESRCH) {
                fprintf(stderr, "%s: the master process %d exited during the reload\n",
                        PCO_NAME, (int) pid);
                return 1;
            }
            continue;
        }
        if (strstr(line, " ok") != NULL) {
            return 0;
        }
        fprintf(stderr, "%s: reload failed: the master process %d keeps the running "
                "configuration (the reason is in its error log)\n", PCO_NAME, (int) pid);
        return 1;
    }
    fprintf(stderr, "%s: no reload result from the master process %d within %d s\n",
            PCO_NAME, (int) pid, PCO_RELOAD_WAIT / 1000);
    return 1;
}

int
pco_signal_process(pco_cycle_t *cycle, const char *action)
{
    char     *path, buf[32], *end, before[64];
    ssize_t   n;
    long      pid;
    int       fd, signo;

    if (strcmp(action, "stop") == 0) {
        signo = SIGTERM;
    } else if (strcmp(action, "quit") == 0) {
        signo = SIGQUIT;
    } else if (strcmp(action, "reload") == 0) {
        signo = SIGHUP;
    } else if (strcmp(action, "reopen") == 0) {
        signo = SIGUSR1;
    } else {
        fprintf(stderr, "%s: invalid option: \"-s %s\"\n", PCO_NAME, action);
        return 1;
    }

    path = pco_conf_full_path(&cycle->conf, (char *) cycle->core->pid.data);
    if (path == NULL) {
        fprintf(stderr, "%s: out of memory\n", PCO_NAME);
        return 1;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "%s: open() \"%s\" failed (%d: %s)\n", PCO_NAME, path, errno,
                strerror(errno));
        return 1;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        fprintf(stderr, "%s: read() \"%s\" failed (%d: %s)\n", PCO_NAME, path, errno,
                strerror(errno));
        return 1;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }

    errno = 0;
    pid = strtol(buf, &end, 10);
    if (n == 0 || *end != '\0' || errno != 0 || pid <= 1 || pid > INT_MAX) {
        fprintf(stderr, "%s: invalid PID number \"%s\" in \"%s\"\n", PCO_NAME, buf, path);
        return 1;
    }

    if (signo == SIGHUP) {
        pco_reload_result_read(path, before, sizeof(before));
    }
    if (kill((pid_t) pid, signo) == -1) {
        fprintf(stderr, "%s: kill(%ld, %d) failed (%d: %s)\n", PCO_NAME, pid, signo, errno,
                strerror(errno));
        return 1;
    }

    return signo == SIGHUP ? pco_reload_wait(path, (pid_t) pid, before) : 0;
}

static void
pco_show_version(bool full)
{
    char      pcre[64], *sp;
    unsigned  i;

    printf("%s/%s\n", PCO_NAME, PCO_VERSION_STR);
    if (!full) {
        return;
    }

    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0) {
        snprintf(pcre, sizeof(pcre), "unknown");
    }
    sp = strchr(pcre, ' ');
    if (sp != NULL) {
        *sp = '\0';
    }

    printf("built by %s\n", PCO_CC_VERSION);
    printf("built with OpenSSL %s, PCRE2 %s, zlib %s, libconfig %d.%d.%d\n",
           OpenSSL_version(OPENSSL_VERSION_STRING), pcre, zlibVersion(),
           LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
    printf("configure arguments:%s%s\n",
           pco_configure_args != NULL && pco_configure_args[0] != '\0' ? " " : "",
           pco_configure_args != NULL ? pco_configure_args : "");
    /* the compiled-in defaults (configure --conf-path=... --user=...); a relative path is
     * relative to the prefix, -p at run time */
    printf("prefix: %s\n", PCO_PREFIX);
    printf("paths: conf %s, error log %s, access log %s, pid %s, cache %s\n", PCO_CONF_PATH,
           PCO_ERROR_LOG_PATH, PCO_HTTP_LOG_PATH, PCO_PID_PATH, PCO_CACHE_PATH);
    printf("user: %s, group: %s\n", PCO_USER,
           PCO_GROUP[0] != '\0' ? PCO_GROUP : "(the user's primary group)");
    printf("module API version: %u\n", (unsigned) PCO_MODULE_API_VERSION);
    printf("modules:");
    for (i = 0; pco_module_names[i] != NULL; i++) {
        printf(" %s", pco_module_names[i]);
    }
    printf("\n");
}

/* Returns a malloc'ed absolute path: path itself, or base + path. */
static char *
pco_main_path(const char *base, const char *path, bool dir)
{
    char    cwd[PATH_MAX], *out;
    size_t  len;

    if (path[0] == '/') {
        out = malloc(strlen(path) + 2);
        if (out == NULL) {
            return NULL;
        }
        strcpy(out, path);
    } else {
        if (base == NULL) {
            if (getcwd(cwd, sizeof(cwd) - 1) == NULL) {
                return NULL;
            }
            len = strlen(cwd);
            cwd[len] = '/';
            cwd[len + 1] = '\0';
            base = cwd;
        }
        out = malloc(strlen(base) + strlen(path) + 2);
        if (out == NULL) {
            return NULL;
        }
        strcpy(out, base);
        strcat(out, path);
    }

    len = strlen(out);
    if (dir && (len == 0 || out[len - 1] != '/')) {
        out[len] = '/';
        out[len + 1] = '\0';
    }
    return out;
}

#ifndef PCO_UNIT_TEST

int
main(int argc, char **argv)
{
    pco_cycle_t  *cycle;
    pco_cli_t     cli;
    char         *prefix, *conf;
    int           rc;

    pco_setproctitle_init(argc, argv);

    /* parse the copy: the original argv memory becomes the process title */
    if (pco_cli_parse(pco_argc, pco_argv, &cli, stderr) != PCO_OK) {
        pco_usage(stderr);
        return 1;
    }
    if (cli.help) {
        pco_usage(stdout);
        return 0;
    }
    if (cli.version) {
        pco_show_version(cli.version_full);
        return 0;
    }

    pco_time_init();
    pco_log_init_stderr();

    if (pco_modules_init() != PCO_OK || pco_conf_check_defaults(stderr) != PCO_OK) {
        return 1;
    }

    prefix = pco_main_path(NULL, cli.prefix != NULL ? cli.prefix : PCO_PREFIX, true);
    if (prefix == NULL) {
        fprintf(stderr, "%s: cannot resolve the prefix (%s)\n", PCO_NAME, strerror(errno));
        return 1;
    }
    conf = pco_main_path(prefix, cli.conf_file != NULL ? cli.conf_file : PCO_CONF_PATH,
                         false);
    if (conf == NULL) {
        fprintf(stderr, "%s: out of memory\n", PCO_NAME);
        return 1;
    }

    if (cli.test || cli.signal != NULL) {
        cycle = pco_cycle_create(prefix, conf, cli.extra, true, stderr);

        if (cli.signal != NULL && !cli.test) {
            rc = cycle != NULL ? pco_signal_process(cycle, cli.signal) : 1;
            pco_cycle_destroy(cycle);
            free(prefix);
            free(conf);
            return rc;
        }

        if (cycle == NULL) {
            fprintf(stderr, "%s: configuration file %s test failed\n", PCO_NAME, conf);
            free(prefix);
            free(conf);
            return 1;
        }
        fprintf(stderr, "%s: the configuration file %s syntax is ok\n", PCO_NAME, conf);
        fprintf(stderr, "%s: configuration file %s test is successful\n", PCO_NAME, conf);
        if (cli.dump) {
            fflush(stderr);
            printf("# configuration file %s:\n", conf);
            pco_conf_dump(&cycle->conf, stdout);
            fflush(stdout);
        }
        pco_cycle_destroy(cycle);
        free(prefix);
        free(conf);
        return 0;
    }

    cycle = pco_cycle_create(prefix, conf, cli.extra, false, stderr);
    free(prefix);
    free(conf);
    if (cycle == NULL) {
        return 1;
    }

    return pco_master_run(cycle);
}

#endif
