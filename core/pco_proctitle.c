/*
 * pco_proctitle.c: process titles as ps shows them ("portico: master process ...",
 * "portico: worker process"). The argv strings and the environment that follows them are
 * one contiguous block; pco_setproctitle_init copies the environment and the arguments to
 * the heap (pco_argv keeps the original arguments for binary upgrade) so that the whole
 * block can be overwritten with the title. When the block cannot be found, the title goes
 * to the thread name (prctl PR_SET_NAME, 15 characters) instead.
 */
#include "pco_core.h"
#include "pco_process.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

extern char **environ;

static char   *pco_title_start;     /* argv[0] */
static size_t  pco_title_size;      /* bytes up to the end of the last contiguous string */
static char  **pco_title_argv;
static char   *pco_title_env;       /* the copied environment strings */

void
pco_setproctitle_init(int argc, char **argv)
{
    char    **copy, **env, *end, *p;
    size_t    n, i, len, total;
    int       k;

    copy = calloc((size_t) argc + 1, sizeof(char *));
    if (copy == NULL) {
        pco_argc = argc;
        pco_argv = argv;
        return;
    }
    for (k = 0; k < argc; k++) {
        copy[k] = strdup(argv[k]);
        if (copy[k] == NULL) {
            pco_argc = argc;
            pco_argv = argv;
            return;
        }
    }
    pco_argc = argc;
    pco_argv = copy;

    if (argc == 0 || argv[0] == NULL) {
        return;
    }

    /* find the end of the contiguous argv + environ block */
    end = argv[0];
    for (k = 0; k < argc; k++) {
        if (argv[k] == end) {
            end = argv[k] + strlen(argv[k]) + 1;
        }
    }
    for (n = 0; environ != NULL && environ[n] != NULL; n++) {
        /* count */
    }
    /* one block for all strings: it stays referenced (pco_title_env) even when setenv or
     * unsetenv later drops an entry from environ */
    for (i = 0, total = 0; i < n; i++) {
        total += strlen(environ[i]) + 1;
    }
    env = calloc(n + 1, sizeof(char *));
    pco_title_env = malloc(total + 1);
    if (env != NULL && pco_title_env != NULL) {
        for (i = 0, p = pco_title_env; i < n; i++) {
            len = strlen(environ[i]) + 1;
            if (environ[i] == end) {
                end = environ[i] + len;
            }
            memcpy(p, environ[i], len);
            env[i] = p;
            p += len;
        }
        environ = env;
    } else {
        free(env);
        /* the environment stays where it is and must not be overwritten */
        end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    }

    pco_title_start = argv[0];
    pco_title_size = (size_t) (end - argv[0]);
    pco_title_argv = argv;
}

void
pco_setproctitle(const char *title)
{
    size_t  len;

    if (pco_title_start == NULL || pco_title_size < 2) {
        (void) prctl(PR_SET_NAME, (unsigned long) title, 0, 0, 0);
        return;
    }

    len = strlen(title);
    if (len > pco_title_size - 1) {
        len = pco_title_size - 1;
    }
    memcpy(pco_title_start, title, len);
    memset(pco_title_start + len, 0, pco_title_size - len);
    pco_title_argv[1] = NULL;
}
