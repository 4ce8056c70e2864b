/*
 * fuzz_conf.c: libFuzzer target for the configuration loader, linked with the whole of
 * libportico. The input is a configuration file, checked the way `portico -t` checks one:
 * pco_cycle_create(..., test_only) runs the libconfig parse, the settings walk with
 * inheritance and every module's conf_done and conf_final; a loaded configuration is then
 * printed as `portico -T` does (to /dev/null) and destroyed. Nothing is listened on, no
 * process started, no file written: the input lives in a memfd read through /proc/self/fd.
 * Errors go to /dev/null (to stderr with PCO_FUZZ_VERBOSE=1 in the environment, to see
 * what a seed exercises); LeakSanitizer checks that nothing leaks per input.
 *
 * What stays outside, so that every input is quick and the same on every machine:
 *   - "@include" lines (the input is skipped): they read other files;
 *   - strings naming /dev, /proc or /sys (skipped after a first parse): a certificate
 *     "/dev/zero" or "/dev/stdin" would make the TLS checks read for ever;
 *   - host names: getaddrinfo is replaced here, resolving "localhost" only, so upstream
 *     addresses never reach DNS.
 * The prefix is a directory that does not exist, so relative paths (and "..") resolve to
 * nothing; absolute paths to regular files are read as usual.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>
#include <netdb.h>
#include <netinet/in.h>
#include <libconfig.h>
#include "pco_core.h"
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conf.h"
#include "pco_log.h"
#include "pco_time.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PCO_FUZZ_PREFIX  "/nonexistent/portico-fuzz/"

static int    pco_fuzz_fd = -1;
static char   pco_fuzz_path[64];
static FILE  *pco_fuzz_null;
static FILE  *pco_fuzz_err;

/*
 * getaddrinfo without DNS: "localhost" is 127.0.0.1, numeric IPv4 is itself, anything else
 * is not found. Defined here, it takes the place of libc's for the whole program.
 */
int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
    struct addrinfo     *ai;
    struct sockaddr_in  *sin;
    long                 port = 0;

    (void) hints;
    if (node == NULL || (strcmp(node, "localhost") != 0 && strcmp(node, "127.0.0.1") != 0)) {
        return EAI_NONAME;
    }
    if (service != NULL) {
        port = strtol(service, NULL, 10);
    }
    ai = calloc(1, sizeof(struct addrinfo) + sizeof(struct sockaddr_in));
    if (ai == NULL) {
        return EAI_MEMORY;
    }
    sin = (struct sockaddr_in *) (ai + 1);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addrlen = sizeof(struct sockaddr_in);
    ai->ai_addr = (struct sockaddr *) sin;
    *res = ai;
    return 0;
}

void
freeaddrinfo(struct addrinfo *res)
{
    free(res);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    pco_time_init();
    pco_log_init_stderr();
    if (pco_modules_init() != PCO_OK) {
        abort();
    }
    pco_fuzz_fd = memfd_create("portico-fuzz.conf", MFD_CLOEXEC);
    pco_fuzz_null = fopen("/dev/null", "w");
    if (pco_fuzz_fd == -1 || pco_fuzz_null == NULL) {
        abort();
    }
    pco_fuzz_err = getenv("PCO_FUZZ_VERBOSE") != NULL ? stderr : pco_fuzz_null;
    snprintf(pco_fuzz_path, sizeof(pco_fuzz_path), "/proc/self/fd/%d", pco_fuzz_fd);
    return 0;
}

/* True when a string anywhere in the tree names a pseudo-file system. */
static bool
pco_fuzz_special(const config_setting_t *cs)
{
    const char  *s;
    int          i, n;

    switch (config_setting_type(cs)) {
    case CONFIG_TYPE_STRING:
        s = config_setting_get_string(cs);
        return s != NULL && (strstr(s, "dev") != NULL || strstr(s, "proc") != NULL
                             || strstr(s, "sys") != NULL);
    case CONFIG_TYPE_GROUP:
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        n = config_setting_length(cs);
        for (i = 0; i < n; i++) {
            if (pco_fuzz_special(config_setting_get_elem(cs, (unsigned) i))) {
                return true;
            }
        }
        return false;
    default:
        return false;
    }
}

/* The input would read beyond itself: an include, or a path into /dev, /proc, /sys. */
static bool
pco_fuzz_skip(void)
{
    config_t  c;
    bool      skip;

    config_init(&c);
    skip = config_read_file(&c, pco_fuzz_path) == CONFIG_TRUE
           && pco_fuzz_special(config_root_setting(&c));
    config_destroy(&c);
    return skip;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_cycle_t  *cycle;

    if (memmem(data, size, "@include", 8) != NULL) {
        return 0;
    }
    if (ftruncate(pco_fuzz_fd, 0) != 0 || pwrite(pco_fuzz_fd, data, size, 0) != (ssize_t) size)
    {
        abort();
    }
    if (pco_fuzz_skip()) {
        if (pco_fuzz_err != pco_fuzz_null) {
            fprintf(stderr, "fuzz_conf: skipped: names /dev, /proc or /sys\n");
        }
        return 0;
    }
    cycle = pco_cycle_create(PCO_FUZZ_PREFIX, pco_fuzz_path, NULL, true, pco_fuzz_err);
    if (pco_fuzz_err != pco_fuzz_null) {
        fprintf(stderr, "fuzz_conf: %s\n", cycle != NULL ? "loaded" : "rejected");
    }
    if (cycle != NULL) {
        pco_conf_dump(&cycle->conf, pco_fuzz_null);
        pco_cycle_destroy(cycle);
    }
    return 0;
}
