/*
 * pco_conf_include.c: the top-level `include` setting, so that a configuration can be split
 * into one file per site (include = ["conf.d/NAME.conf"] with a glob for NAME).
 *
 * `include` is a string or a list of strings: paths, absolute or relative to the prefix
 * (like every other path of the configuration), and glob(3) patterns, expanded in sorted
 * order. A pattern that matches nothing is fine (an empty conf.d); a plain path that does
 * not name a readable file is an error. Each file is read by libconfig on its own and may
 * hold only the top-level lists whose setting carries PCO_CONF_INCLUDABLE (upstreams,
 * servers, rate_limits, conn_limits, caches): their elements are copied to the end of the
 * main file's lists of the same name, file after file in include order, before the loader
 * walks the tree. Every copied setting keeps its own file and line (pco_conf_copy), so all
 * later messages about it name the included file. An included file may not include
 * further files: one level keeps the order obvious and cycles impossible (libconfig's own
 * @include still works inside it).
 *
 * Master only (blocking reads, at start-up and on reload, so a changed included file takes
 * effect on HUP); memory: cf->pool, except the libconfig trees of the included files, freed
 * here.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <glob.h>
#include <limits.h>
#include <sys/stat.h>

/* The top-level setting named name, or NULL. */
static const pco_setting_t *
pco_conf_include_setting(const char *name)
{
    const pco_setting_t  *s;
    size_t                i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        for (s = pco_modules[i]->settings; s != NULL && s->name != NULL; s++) {
            if ((s->scopes & PCO_SCOPE_TOP) && strcmp(s->name, name) == 0) {
                return s;
            }
        }
    }
    return NULL;
}

/* "upstreams, servers, ..." : the settings an included file may hold, for the messages. */
static void
pco_conf_include_allowed(char *buf, size_t size)
{
    const pco_setting_t  *s;
    size_t                i, len = 0;
    int                   w;

    buf[0] = '\0';
    for (i = 0; pco_modules[i] != NULL; i++) {
        for (s = pco_modules[i]->settings; s != NULL && s->name != NULL; s++) {
            if ((s->scopes & PCO_SCOPE_TOP) && (s->flags & PCO_CONF_INCLUDABLE) && len < size) {
                w = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", s->name);
                len += (w > 0) ? (size_t) w : 0;
            }
        }
    }
}

/* Where cs was written in an included file, for messages about the file's own structure
 * (what it copies carries its source already). */
static pco_conf_src_t
pco_conf_include_src(const char *file, const config_setting_t *cs)
{
    pco_conf_src_t  src = { .file = file, .line = config_setting_source_line(cs),
                            .path = config_setting_name(cs) };

    return src;
}

/* The main file's list `name`, created at the end of the main file when it has none; NULL
 * when the main file writes it otherwise (a lone group is reported here at the included
 * element e, as nothing can be added to it; any other type by the walk). */
static config_setting_t *
pco_conf_include_target(pco_conf_t *cf, const char *file, const config_setting_t *e)
{
    config_setting_t  *root = config_root_setting(&cf->config), *t;
    const char        *name = config_setting_name(e);
    pco_conf_src_t     src, at;

    t = config_setting_get_member(root, name);
    if (t == NULL) {
        /* the list starts where its first elements were written */
        t = config_setting_add(root, name, CONFIG_TYPE_LIST);
        if (t != NULL && pco_conf_set_origin(cf, t, file, config_setting_source_line(e))
                         != PCO_OK)
        {
            return NULL;
        }
        return t;
    }
    if (config_setting_type(t) == CONFIG_TYPE_LIST) {
        return t;
    }
    if (config_setting_type(t) == CONFIG_TYPE_GROUP) {
        src = pco_conf_include_src(file, e);
        pco_conf_src_set(cf, &at, t);
        pco_conf_error_src(cf, &src, "cannot be added to the main file's %s, written as one "
                           "group { ... } at %s:%d: write it as a list ( { ... } )", name,
                           at.file, at.line);
    }
    return NULL;
}

/* Appends the elements of e (a list of groups, or one group), read from file, to the main
 * file's list of the same name. */
static void
pco_conf_include_append(pco_conf_t *cf, const char *file, const config_t *c,
                        const config_setting_t *e)
{
    pco_conf_origin_t   o = { .label = file, .from = c };
    pco_conf_src_t      src = pco_conf_include_src(file, e);
    config_setting_t   *t, *d;
    int                 i, n, type = config_setting_type(e);

    if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_GROUP) {
        pco_conf_error_src(cf, &src, "must be a list of groups ( { ... }, ... )");
        return;
    }
    t = pco_conf_include_target(cf, file, e);
    if (t == NULL) {
        return;
    }
    n = (type == CONFIG_TYPE_GROUP) ? 1 : config_setting_length(e);
    for (i = 0; i < n; i++) {
        const config_setting_t *x = (type == CONFIG_TYPE_GROUP)
                                    ? e : config_setting_get_elem(e, (unsigned) i);

        d = config_setting_add(t, NULL, config_setting_type(x));
        if (d == NULL || pco_conf_copy(cf, d, x, &o) != PCO_OK) {
            pco_conf_error_src(cf, &src, "out of memory");
            return;
        }
    }
}

static void
pco_conf_include_note(pco_conf_t *cf, const char *file)
{
    const char  **l;

    l = pco_palloc(cf->pool, (cf->nincluded + 1) * sizeof(const char *));
    if (l == NULL) {
        return;
    }
    if (cf->nincluded) {
        memcpy(l, cf->included, cf->nincluded * sizeof(const char *));
    }
    l[cf->nincluded++] = file;
    cf->included = l;
}

/* Reads one included file and appends its lists; at is the `include` entry naming it. */
static void
pco_conf_include_file(pco_conf_t *cf, const config_setting_t *at, const char *file)
{
    config_t                 c;
    const config_setting_t  *root, *e;
    const pco_setting_t     *s;
    pco_conf_src_t           src;
    struct stat              st;
    char                     allowed[256];
    const char              *name;
    int                      i, n;

    if (stat(file, &st) != 0) {
        pco_conf_error(cf, at, "cannot read the included file \"%s\": %s", file,
                       strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        pco_conf_error(cf, at, "cannot read the included file \"%s\": it is a directory", file);
        return;
    }
    config_init(&c);
    config_set_options(&c, config_get_options(&c) & ~CONFIG_OPTION_AUTOCONVERT);
    config_set_include_dir(&c, config_get_include_dir(&cf->config));
    if (config_read_file(&c, file) != CONFIG_TRUE) {
        if (config_error_type(&c) == CONFIG_ERR_FILE_IO && config_error_file(&c) == NULL) {
            pco_conf_error(cf, at, "cannot read the included file \"%s\": %s", file,
                           strerror(errno));
        } else {
            pco_conf_read_error(cf, &c, file);
        }
        config_destroy(&c);
        return;
    }
    pco_conf_widen_ints(&c, file, NULL);
    pco_conf_include_note(cf, file);
    pco_conf_include_allowed(allowed, sizeof(allowed));
    root = config_root_setting(&c);
    n = config_setting_length(root);
    for (i = 0; i < n; i++) {
        e = config_setting_get_elem(root, (unsigned) i);
        name = config_setting_name(e);
        s = pco_conf_include_setting(name);
        src = pco_conf_include_src(file, e);
        if (s != NULL && (s->flags & PCO_CONF_INCLUDABLE)) {
            pco_conf_include_append(cf, file, &c, e);
        } else if (strcmp(name, "include") == 0) {
            pco_conf_error_src(cf, &src, "an included file cannot include further files: "
                               "list them in the include of the main file %s", cf->file);
        } else {
            pco_conf_error_src(cf, &src, "not allowed in an included file, which may hold "
                               "only %s; \"%s\" belongs in the main file %s", allowed, name,
                               cf->file);
        }
    }
    config_destroy(&c);
}

/* glob(3) calls back without a user pointer: the first directory it could not read (a
 * directory that does not exist is no error: the pattern just matches nothing). */
static char  pco_conf_glob_dir[PATH_MAX];
static int   pco_conf_glob_errno;

static int
pco_conf_include_glob_error(const char *path, int err)
{
    if (err == ENOENT || err == ENOTDIR) {
        return 0;
    }
    snprintf(pco_conf_glob_dir, sizeof(pco_conf_glob_dir), "%s", path);
    pco_conf_glob_errno = err;
    return 1;
}

static bool
pco_conf_include_is_pattern(const char *p)
{
    return strpbrk(p, "*?[") != NULL;
}

/* One entry of `include`: a path or a pattern. */
static void
pco_conf_include_entry(pco_conf_t *cf, const config_setting_t *e)
{
    const char  *text = config_setting_get_string(e);
    char        *full;
    glob_t       g;
    size_t       i;
    int          rc;

    if (text == NULL || text[0] == '\0') {
        return;                                    /* the walk reports the type */
    }
    full = pco_conf_full_path(cf, text);
    if (full == NULL) {
        pco_conf_error(cf, e, "out of memory");
        return;
    }
    if (!pco_conf_include_is_pattern(full)) {
        pco_conf_include_file(cf, e, full);
        return;
    }
    pco_conf_glob_errno = 0;
    rc = glob(full, 0, pco_conf_include_glob_error, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        return;                                    /* an empty conf.d is fine */
    }
    if (rc != 0) {
        if (rc == GLOB_ABORTED && pco_conf_glob_errno != 0) {
            pco_conf_error(cf, e, "cannot expand \"%s\": cannot read the directory \"%s\": %s",
                           full, pco_conf_glob_dir, strerror(pco_conf_glob_errno));
        } else {
            pco_conf_error(cf, e, "cannot expand \"%s\": %s", full,
                           rc == GLOB_NOSPACE ? "out of memory" : "glob() failed");
        }
        globfree(&g);
        return;
    }
    for (i = 0; i < g.gl_pathc; i++) {
        /* the names live in the pool: the sources of the copies point at them */
        char *path = pco_pstrndup(cf->pool, g.gl_pathv[i], strlen(g.gl_pathv[i]));

        if (path == NULL) {
            pco_conf_error(cf, e, "out of memory");
            break;
        }
        pco_conf_include_file(cf, e, path);
    }
    globfree(&g);
}

void
pco_conf_include(pco_conf_t *cf)
{
    const config_setting_t  *inc;
    int                      i, n;

    cf->included = NULL;
    cf->nincluded = 0;
    inc = config_setting_get_member(config_root_setting(&cf->config), "include");
    if (inc == NULL) {
        return;
    }
    switch (config_setting_type(inc)) {
    case CONFIG_TYPE_STRING:
        pco_conf_include_entry(cf, inc);
        return;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        n = config_setting_length(inc);
        for (i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(inc, (unsigned) i);

            if (config_setting_type(e) == CONFIG_TYPE_STRING) {
                pco_conf_include_entry(cf, e);
            }
        }
        return;
    default:
        return;                                    /* the walk reports the type */
    }
}
