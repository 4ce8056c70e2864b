/*
 * pco_conf_impl.h: private to the configuration loader (core/pco_conf*.c): the
 * hidden header that precedes every module conf (set bits, sources, group members' sources,
 * the settings as written), the member source records and their sink, and the node wrapper
 * that remembers which SCOPE setting opened a node.
 * Nothing outside core/pco_conf*.c includes this.
 */
#ifndef PCO_CONF_IMPL_H
#define PCO_CONF_IMPL_H

#include "pco_conf.h"

#define PCO_CONF_MAX_SETTINGS  128   /* top-level settings per module with a "was set" bit */

typedef struct {
    const pco_module_t       *module;
    const pco_conf_node_t    *node;
    size_t                    n;        /* settings tracked: min(table size, 128) */
    uint64_t                  set[2];   /* set here, or inherited from where it was set */
    pco_conf_src_t           *src;      /* n: where each set setting was written */
    const config_setting_t  **cs;       /* n: the value as written (NULL: default) */
    pco_conf_msrc_t         **msrc;     /* n: the members written in a GROUP/LIST setting */
} pco_conf_hdr_t;

/* One group member as written: off and size are relative to the struct that holds the
 * records (the module conf, or one list element). */
struct pco_conf_msrc_s {
    pco_conf_msrc_t          *next;
    size_t                    off;
    size_t                    size;
    pco_conf_src_t            src;
};

/* While a setting is parsed, group members written inside [base, base + size) get a record
 * pushed on *head; list elements open their own sink (pco_conf_list_t.msrc). */
struct pco_conf_sink_s {
    u_char                   *base;
    size_t                    size;
    pco_conf_msrc_t         **head;
};

typedef struct {
    pco_conf_node_t           node;     /* first: a node pointer is a wrapper pointer */
    const pco_setting_t      *by;       /* the SCOPE setting that opened it (NULL: root) */
    bool                      is_list;  /* written as a list element, not a lone group */
    int                       state;    /* inheritance: 0 todo, 1 running, 2 done */
    void                   ***defaults; /* shared by all nodes of a load: see pco_conf.c */
} pco_conf_xnode_t;

pco_conf_hdr_t *pco_conf_hdr(const void *conf);
bool pco_conf_hdr_isset(const pco_conf_hdr_t *h, size_t i);
size_t pco_conf_setting_size(const pco_setting_t *s);
/* Formats an INT/SIZE/DURATION value as the configuration writes it ("16k", "10s"). */
void pco_conf_format_num(const pco_setting_t *s, int64_t v, char *buf, size_t size);

/* pco_conf_parse.c. pco_conf_parse_value: PCO_OK; PCO_ERROR (reported; nothing usable);
 * or, for GROUP and LIST, PCO_DECLINED: an optional member failed (reported, and it keeps
 * its default) but the rest was parsed, so the setting counts as written and the module's
 * own checks of the other members still run. */
int pco_conf_parse_value(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs,
                         void *field);
void pco_conf_fill_default(pco_conf_t *cf, const pco_setting_t *s, void *field);
void pco_conf_fill_members(pco_conf_t *cf, const pco_setting_t *sub, u_char *base);
int pco_conf_bad_type(pco_conf_t *cf, const pco_setting_t *s, const config_setting_t *cs);
void pco_conf_unknown(pco_conf_t *cf, const config_setting_t *cs, const char *best);
/* pco_conf_int.c: gives back the 64-bit value of integer literals that libconfig 1.5 cut
 * to 32 bits, after c was read from file (with its includes) or from text. */
void pco_conf_widen_ints(config_t *c, const char *file, const char *text);
/* The origin hook of a copied setting (-g, an included file): where it was written. */
typedef struct {
    const char  *file;
    int          line;
} pco_conf_gsrc_t;

/* Where the settings copied by pco_conf_copy say they were written: label ("-g", or an
 * included file's path), or the file that `from` read them from with @include. */
typedef struct {
    const char          *label;
    const config_t      *from;      /* NULL: every copy is label's */
    const char          *raw;       /* the last @include'd file seen, as libconfig names it */
    const char          *shown;     /* and its name as shown */
} pco_conf_origin_t;

/* pco_conf_merge.c */
/* Reads the -g text and merges it into cf->config; PCO_ERROR (reported) when it cannot. */
int pco_conf_load_extra(pco_conf_t *cf, const char *extra);
/* Copies src (any type, recursively) into dst, a new setting of the same type; every copy
 * keeps src's line and o's file name for the messages. */
int pco_conf_copy(pco_conf_t *cf, config_setting_t *dst, const config_setting_t *src,
                  pco_conf_origin_t *o);
/* Makes the messages about cs say it was written at file:line (file must outlive cf). */
int pco_conf_set_origin(pco_conf_t *cf, config_setting_t *cs, const char *file, int line);
/* pco_conf.c */
const char *pco_conf_show_file(const char *file);
/* Reports c's read error (syntax error: with the offending line and a hint) for file. */
void pco_conf_read_error(pco_conf_t *cf, const config_t *c, const char *file);
void pco_conf_src_set(pco_conf_t *cf, pco_conf_src_t *src, const config_setting_t *cs);

/* pco_conf_include.c: reads the files named by the top-level `include` and appends their
 * lists to the main file's, before the walk. Errors are reported and counted in cf. */
void pco_conf_include(pco_conf_t *cf);
#endif
