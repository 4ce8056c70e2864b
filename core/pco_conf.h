/*
 * pco_conf.h: the configuration loader. Modules declare settings as tables; core walks the
 * libconfig tree, checks types and units, fills defaults, inherits values from parent
 * scopes (a per-instance "was set" bit, no magic unset values), rejects unknown settings
 * with a "did you mean", and reports every problem as FILE:LINE: path: message before
 * giving up (all errors at once). Modules ask about a setting by its struct member
 * (PCO_CONF_IS_SET, PCO_CONF_SRC: a misspelt member does not compile), and every member
 * written in a group or list element keeps its own FILE:LINE for their messages.
 *
 * Scopes: core defines PCO_SCOPE_TOP; modules (modules/http) define further scope bits and
 * open them with PCO_CONF_SCOPE settings. Every scope instance is a pco_conf_node_t that
 * holds one configuration struct per module (module->conf_size bytes, zeroed, then defaults).
 */
#ifndef PCO_CONF_H
#define PCO_CONF_H

#include "pco_core.h"
#include "pco_pool.h"
#include <stdio.h>
#include <libconfig.h>
#include "pco_module.h"

#define PCO_SCOPE_TOP       0x0001u
/* bits 0x0002 .. 0x8000 are for modules (see pco_http.h) */

typedef enum {
    PCO_CONF_BOOL = 1,   /* bool */
    PCO_CONF_INT,        /* int64_t; PCO_CONF_AUTO accepts "auto" (stored as -1) */
    PCO_CONF_SIZE,       /* int64_t bytes: 1024 or "16k"/"1m"/"1g" */
    PCO_CONF_DURATION,   /* pco_msec_t: bare integer = seconds, or "500ms"/"2s"/"1m"/"1h"/"1d" */
    PCO_CONF_STRING,     /* pco_str_t, NUL-terminated data */
    PCO_CONF_ENUM,       /* int: index into values[] */
    PCO_CONF_STRLIST,    /* pco_str_list_t: array of strings (a lone string is one element) */
    PCO_CONF_INTLIST,    /* pco_int_list_t: array of integers (a lone integer is one element) */
    PCO_CONF_GROUP,      /* an embedded struct at offset, members described by sub[] */
    PCO_CONF_LIST,       /* pco_conf_list_t: list of groups, elements of elt_size by sub[] */
    PCO_CONF_CUSTOM,     /* custom(cf, setting, field) parses the value itself */
    PCO_CONF_SCOPE       /* opens child scope `child_scope`: a group -> one node, a list of
                            groups -> one node each (stored nowhere; see pco_conf_node_t) */
} pco_conf_type_e;

/* Common bounds for the tables: a day in milliseconds (durations), and the sizes a shared
 * memory zone may have: at least 16 pages (room for any zone's header and a few entries),
 * at most 64g (beyond what a proxy's tables need; mmap of more fails at start or reload,
 * too late to be a configuration error). */
#define PCO_CONF_DAY       86400000LL
#define PCO_CONF_ZONE_MIN  ((int64_t) 64 * 1024)
#define PCO_CONF_ZONE_MAX  ((int64_t) 64 * 1024 * 1024 * 1024)

/* flags */
#define PCO_CONF_AUTO      0x01   /* INT: "auto" allowed, stored as -1 */
#define PCO_CONF_FALSE_OFF 0x02   /* GROUP/STRING/CUSTOM: `false` allowed = off (field zeroed,
                                     still counts as set) */
#define PCO_CONF_REQUIRED  0x04   /* must be present (in GROUP/LIST members) */
#define PCO_CONF_NOINHERIT 0x08   /* never copied from the parent scope */
#define PCO_CONF_NOCTL     0x10   /* STRING/STRLIST: no control character but HTAB (text that
                                     becomes a header value: CR or LF would inject headers) */
#define PCO_CONF_TOKEN     0x20   /* STRING/STRLIST: a token (text that becomes a header name) */
#define PCO_CONF_INCLUDABLE 0x40  /* top-level LIST/SCOPE: files named by `include` may hold
                                     it; their elements are appended to the main file's */
#define PCO_CONF_DUMP_NOTE 0x80   /* -T prints it as a comment: its effect is already in the
                                     dump (`include`: the included elements are listed) */

/* Parses cs into field; returns PCO_OK or PCO_ERROR after pco_conf_error(). */
typedef int (*pco_conf_custom_pt)(pco_conf_t *cf, const config_setting_t *cs, void *field,
                                  const pco_setting_t *s);
/* Prints the effective value of field for -T in libconfig syntax (no trailing ';'). */
typedef void (*pco_conf_dump_pt)(FILE *out, const void *field, const pco_setting_t *s);

struct pco_setting_s {
    const char           *name;
    unsigned              scopes;      /* where allowed (ignored for GROUP/LIST members) */
    pco_conf_type_e       type;
    size_t                offset;      /* into the module conf (or the enclosing group/element) */
    const char           *def;         /* default in libconfig syntax, e.g. "\"10s\"", "1024",
                                          "true", "[\"a\", \"b\"]"; NULL = zero / empty */
    int64_t               min;         /* INT/SIZE/DURATION/INTLIST bounds (every numeric
                                          setting has them; min = max = 0: none) */
    int64_t               max;
    const char *const    *values;      /* ENUM: NULL-terminated names */
    const pco_setting_t  *sub;         /* GROUP/LIST members, terminated by { NULL }; on a
                                          CUSTOM: the members its parser accepts, listed in
                                          docs/settings.md only */
    size_t                elt_size;    /* LIST element size */
    pco_conf_custom_pt    custom;      /* CUSTOM parser */
    pco_conf_dump_pt      dump;        /* CUSTOM printer for -T (NULL: print as written) */
    unsigned              child_scope; /* SCOPE */
    unsigned              inherit_scope; /* SCOPE: the new nodes inherit from the sibling node
                                          of this scope (servers inherit from http, written
                                          beside it at the top); one is created with
                                          defaults when the file has none */
    unsigned              flags;
    const char           *help;        /* one line, for docs/settings.md */
};

#define PCO_SETTINGS_END { .name = NULL }

typedef struct {
    pco_str_t  *elts;
    size_t      n;
} pco_str_list_t;

typedef struct {
    int64_t    *elts;
    size_t      n;
} pco_int_list_t;

typedef struct {
    const char *file;
    int         line;
    const char *path;          /* "servers[0].routes[2].return" */
} pco_conf_src_t;

/* Where one member of a group (or of a list element) was written; private to the loader,
 * read through pco_conf_src_at and pco_conf_elt_src_at. */
typedef struct pco_conf_msrc_s pco_conf_msrc_t;

typedef struct {
    void              *elts;   /* n elements of elt_size */
    size_t             n;
    pco_conf_src_t    *src;    /* where each element was written */
    pco_conf_msrc_t  **msrc;   /* n: where the members of each element were written */
} pco_conf_list_t;

struct pco_conf_node_s {
    unsigned          scope;
    pco_conf_node_t  *parent;      /* where it was written */
    pco_conf_node_t  *inherit;     /* where unset values come from (parent or inherit_scope) */
    pco_conf_node_t **children;   /* in the order written, all child scopes mixed */
    size_t            nchildren;
    void            **confs;      /* per module index; NULL when module has no conf_size */
    pco_conf_src_t    src;        /* where the scope starts */
    unsigned          index;      /* position within its list (servers[3] -> 3) */
};

/* The loading context of one configuration generation (cf). */
struct pco_conf_s {
    pco_pool_t       *pool;         /* the cycle pool: everything parsed lives here */
    config_t          config;       /* kept for the cycle's lifetime (for -T and errors) */
    const char       *file;         /* main configuration file (absolute) */
    const char       *prefix;       /* prefix directory, with trailing '/' */
    const char       *conf_dir;     /* directory of the main file, with trailing '/' */
    pco_conf_node_t  *root;
    unsigned          errors;
    unsigned          warnings;
    FILE             *err;          /* where errors go (stderr) */
    bool              test_only;    /* -t / -T: conf_done must have no side effects */
    const pco_module_t *module;     /* the module whose conf_done / conf_final runs (set by
                                       core; names the module in registration errors) */
    struct pco_conf_sink_s *sink;   /* loader-private: where the sources of the group
                                       members being parsed are recorded (NULL: nowhere) */
    const char      **included;     /* the files read through `include`, in order (-T) */
    size_t            nincluded;
};

/* Loads file (plus -g text, may be NULL) for modules; PCO_OK or PCO_ERROR when any error
 * was reported (all of them are printed to cf->err). */
int pco_conf_load(pco_conf_t *cf, const char *file, const char *extra);
void pco_conf_free(pco_conf_t *cf);
/* Parses every module's defaults once; prints one line per invalid default, naming the
 * module and the setting, and returns PCO_ERROR when there was any (start-up, -t, -T). */
int pco_conf_check_defaults(FILE *err);

/* Errors and warnings, printed as "FILE:LINE: path: message" (warnings: "... warning: ..."). */
void pco_conf_error(pco_conf_t *cf, const config_setting_t *cs, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pco_conf_error_src(pco_conf_t *cf, const pco_conf_src_t *src, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pco_conf_warn_src(pco_conf_t *cf, const pco_conf_src_t *src, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A registration by module m failed (m NULL: cf->module): reports
 * `FILE:LINE: module "NAME": MESSAGE` at src (NULL: the main file), once. */
void pco_conf_error_module(pco_conf_t *cf, const pco_module_t *m, const pco_conf_src_t *src,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Settings are addressed by their place in the module's conf struct (offset, and size to
 * tell a group from its first member), so that a misspelt member is a compile error rather
 * than a silent "unset":
 *     PCO_CONF_IS_SET(rcf, pco_return_route_conf_t, ret)
 *     PCO_CONF_SRC(rcf, pco_return_route_conf_t, ret.location)
 * pco_conf_is_set_at: the setting holding offset off was written in this node or inherited
 * from where it was written; a group member's offset answers for its whole group (a group
 * with a failed optional member still counts as set, the member keeping its default).
 * pco_conf_src_at: where it was written, for messages: a group member written in the file
 * has its own FILE:LINE and path ("servers[0].routes[2].return.location"); a member not
 * written answers with the (nested) group around it, an unset setting with the node's
 * start. An offset that is no setting (or group member) of conf's module is a programming
 * error: both print a line naming the module and the offset to stderr and abort().
 */
bool pco_conf_is_set_at(const void *conf, size_t off);
const pco_conf_src_t *pco_conf_src_at(const void *conf, size_t off, size_t size);
/* Where member [off, off + size) of element i of a PCO_CONF_LIST was written (the
 * element's source when that member was not written); i must be below l->n. */
const pco_conf_src_t *pco_conf_elt_src_at(const pco_conf_list_t *l, size_t i, size_t off,
                                          size_t size);

/* Compile-time check that conf points to a `type` (or is a void pointer). */
#define PCO_CONF_TYPE_CHECK(conf, type)  ((void) sizeof((conf) == (const type *) NULL))
#define PCO_CONF_MEMBER_SIZE(type, member)  sizeof(((type *) NULL)->member)
#define PCO_CONF_IS_SET(conf, type, member)                                                \
    (PCO_CONF_TYPE_CHECK(conf, type), pco_conf_is_set_at((conf), offsetof(type, member)))
#define PCO_CONF_SRC(conf, type, member)                                                   \
    (PCO_CONF_TYPE_CHECK(conf, type),                                                      \
     pco_conf_src_at((conf), offsetof(type, member), PCO_CONF_MEMBER_SIZE(type, member)))
#define PCO_CONF_ELT_SRC(list, i, type, member)                                            \
    pco_conf_elt_src_at((list), (i), offsetof(type, member), PCO_CONF_MEMBER_SIZE(type, member))

/* Unit parsers (also used by modules for their own values); PCO_ERROR on bad text. */
int pco_parse_size(const char *text, int64_t *out);          /* "16k" -> 16384 */
int pco_parse_duration(const char *text, pco_msec_t *out);   /* "500ms" -> 500, "2" -> 2000 */
/* For values a module parses itself (a size inside a string): PCO_OK when min <= v <= max,
 * else reports "FILE:LINE: path: NAME: must be between MIN and MAX (got V)", the numbers
 * written as the type writes them ("64k", "10s"), and returns PCO_ERROR. */
int pco_conf_check_range(pco_conf_t *cf, const pco_conf_src_t *src, const char *name,
                         pco_conf_type_e type, int64_t v, int64_t min, int64_t max);
/* Resolves a relative path against the prefix (paths) or conf_dir (includes). */
char *pco_conf_full_path(pco_conf_t *cf, const char *path);

/* Prints the effective configuration (every setting, defaults filled in) for -T. */
void pco_conf_dump(pco_conf_t *cf, FILE *out);
/* Writes docs/settings.md-style Markdown for all settings tables. */
void pco_conf_write_docs(FILE *out);

static inline void *
pco_conf_get(const pco_conf_node_t *node, const pco_module_t *m)
{
    return node->confs[m->index];
}

/* "Did you mean": when cand is within edit distance 2 of name and closer than *bestd
 * (start with SIZE_MAX), makes it *best. Modules use it for names they look up. */
void pco_conf_suggest(const char *name, const char *cand, const char **best, size_t *bestd);
/* The name among n pco_str_t (NUL-terminated data, NULL data skipped) found every `stride`
 * bytes from names (the name field of an array of structs) that is closest to name within
 * two edits, or NULL: the "did you mean" of a list a module owns. */
const char *pco_conf_suggest_str(const char *name, const pco_str_t *names, size_t n,
                                 size_t stride);

/* pco_conf_hint.c: what a libconfig syntax error at line `line` (1-based; past the last
 * line: at the end) of text probably is. Pure. Writes the offending line, trimmed and cut
 * to PCO_CONF_HINT_SHOWN bytes ("..." appended when cut; "" at the end of the text) into
 * shown, and a hint ("" when there is none) into hint. */
#define PCO_CONF_HINT_SHOWN  60
void pco_conf_syntax_hint(const char *text, size_t len, int line, char *shown,
                          size_t shown_size, char *hint, size_t hint_size);

#endif
