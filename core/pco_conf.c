/*
 * pco_conf.c: the configuration loader. Reads the libconfig file (@includes relative to the
 * main file's directory), merges the -g text into it (scalars replace, groups merge:
 * pco_conf_merge.c), appends the lists of the files named by `include`
 * (pco_conf_include.c), then walks the tree scope
 * by scope: every member must be a setting of some module allowed in
 * that scope (else "unknown setting" with a did-you-mean), is type-checked, parsed with its
 * units and bounds into the module's conf struct of that node, and its source and "was set"
 * bit are recorded in a hidden header in front of the conf (with the sources of the members
 * written inside a group; a list keeps those of its elements' members beside them). After
 * the walk, unset values are inherited parents first (inherit_scope siblings resolved once
 * the whole tree is known) and the modules' conf_merge hooks run. Every problem is
 * reported as FILE:LINE: path: message and counted; loading goes on so that all errors are
 * shown at once.
 * Master only (may block on file reads); no shared state outside cf and its pool.
 * Value parsing and units live in pco_conf_parse.c, the -T printer and the docs writer in
 * pco_conf_dump.c; pco_conf_impl.h is their private interface.
 */
#include "pco_core.h"
#include "pco_conf.h"
#include "pco_conf_impl.h"
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <unistd.h>

#define PCO_CONF_PATH_MAX  512

static void pco_conf_walk(pco_conf_t *cf, pco_conf_node_t *node, const config_setting_t *g);

/* ---- errors ---------------------------------------------------------------------------- */

const char *
pco_conf_show_file(const char *file)
{
    if (file == NULL) {
        return "(default)";
    }
    while (file[0] == '.' && file[1] == '/') {
        file += 2;
    }
    return file;
}

/* Where cs was written. libconfig names an included file as written in @include: it is
 * shown joined to the include directory (relative when the main file was given relative). */
static void
pco_conf_cs_where(pco_conf_t *cf, const config_setting_t *cs, char *buf, size_t size,
                  const char **file, int *line)
{
    const pco_conf_gsrc_t  *g = config_setting_get_hook(cs);
    const char             *f, *dir, *main;

    if (g != NULL) {
        *file = g->file;
        *line = g->line;
        return;
    }
    *line = config_setting_source_line(cs);
    f = config_setting_source_file(cs);
    dir = config_get_include_dir(&cf->config);
    main = config_setting_source_file(config_root_setting(&cf->config));
    if (f != NULL && f[0] != '/' && dir != NULL && main != NULL && strcmp(f, main) != 0) {
        snprintf(buf, size, "%s/%s", dir, f);
        f = buf;
    }
    *file = pco_conf_show_file(f);
}

/* Writes the path of cs ("servers[0].routes[2].return") into buf. */
static void
pco_conf_cs_path(const config_setting_t *cs, char *buf, size_t size)
{
    const config_setting_t  *chain[32];
    size_t                   n = 0, len = 0, i;
    const char              *name;
    int                      w;

    buf[0] = '\0';
    while (cs != NULL && config_setting_parent(cs) != NULL && n < pco_nelems(chain)) {
        chain[n++] = cs;
        cs = config_setting_parent(cs);
    }
    for (i = n; i > 0 && len < size; i--) {
        name = config_setting_name(chain[i - 1]);
        if (name != NULL) {
            w = snprintf(buf + len, size - len, "%s%s", len ? "." : "", name);
        } else {
            w = snprintf(buf + len, size - len, "[%d]", config_setting_index(chain[i - 1]));
        }
        if (w < 0) {
            break;
        }
        len += (size_t) w;
    }
}

static void
pco_conf_vprint(pco_conf_t *cf, const char *file, int line, const char *path,
                const char *kind, const char *fmt, va_list ap)
{
    FILE  *out = cf->err ? cf->err : stderr;

    fprintf(out, "%s:%d: %s", file ? file : "?", line, kind);
    if (path != NULL && path[0] != '\0') {
        fprintf(out, "%s: ", path);
    }
    if (fmt != NULL) {
        vfprintf(out, fmt, ap);
    }
    fputc('\n', out);
}

void
pco_conf_error(pco_conf_t *cf, const config_setting_t *cs, const char *fmt, ...)
{
    va_list      ap;
    const char  *file = cf->file;
    int          line = 0;
    char         path[PCO_CONF_PATH_MAX], buf[PATH_MAX];

    path[0] = '\0';
    if (cs != NULL) {
        pco_conf_cs_where(cf, cs, buf, sizeof(buf), &file, &line);
        pco_conf_cs_path(cs, path, sizeof(path));
    }
    va_start(ap, fmt);
    pco_conf_vprint(cf, file, line, path, "", fmt, ap);
    va_end(ap);
    cf->errors++;
}

void
pco_conf_error_src(pco_conf_t *cf, const pco_conf_src_t *src, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    pco_conf_vprint(cf, src ? src->file : cf->file, src ? src->line : 0,
                    src ? src->path : NULL, "", fmt, ap);
    va_end(ap);
    cf->errors++;
}

void
pco_conf_error_module(pco_conf_t *cf, const pco_module_t *m, const pco_conf_src_t *src,
                      const char *fmt, ...)
{
    va_list  ap;
    char     msg[512];

    if (m == NULL) {
        m = cf->module;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pco_conf_error_src(cf, src, "module \"%s\": %s", m != NULL ? m->name : "?", msg);
}

void
pco_conf_warn_src(pco_conf_t *cf, const pco_conf_src_t *src, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    pco_conf_vprint(cf, src ? src->file : cf->file, src ? src->line : 0,
                    src ? src->path : NULL, "warning: ", fmt, ap);
    va_end(ap);
    cf->warnings++;
}

void
pco_conf_src_set(pco_conf_t *cf, pco_conf_src_t *src, const config_setting_t *cs)
{
    char         path[PCO_CONF_PATH_MAX], buf[PATH_MAX];
    const char  *file;

    pco_conf_cs_where(cf, cs, buf, sizeof(buf), &file, &src->line);
    src->file = (file == buf) ? pco_pstrndup(cf->pool, buf, strlen(buf)) : file;
    pco_conf_cs_path(cs, path, sizeof(path));
    src->path = pco_pstrndup(cf->pool, path, strlen(path));
    if (src->path == NULL) {
        src->path = "";
    }
    if (src->file == NULL) {
        src->file = "?";
    }
}

/* ---- hidden per-conf header ------------------------------------------------------------ */

#define PCO_CONF_HDR_SIZE  pco_align(sizeof(pco_conf_hdr_t), 16)

pco_conf_hdr_t *
pco_conf_hdr(const void *conf)
{
    return (pco_conf_hdr_t *) ((u_char *) conf - PCO_CONF_HDR_SIZE);
}

/* Whether off is the offset of setting s or of a member (at any depth) of s, a GROUP. */
static bool
pco_conf_off_in(const pco_setting_t *s, size_t off)
{
    const pco_setting_t  *m;

    if (s->type == PCO_CONF_SCOPE) {
        return false;                    /* stored nowhere: its offset means nothing */
    }
    if (off == s->offset) {
        return true;
    }
    if (s->type != PCO_CONF_GROUP || off < s->offset
        || off >= s->offset + pco_conf_setting_size(s))
    {
        return false;
    }
    for (m = s->sub; m != NULL && m->name != NULL; m++) {
        if (pco_conf_off_in(m, off - s->offset)) {
            return true;
        }
    }
    return false;
}

/* The index of the top-level setting of h's module that holds offset off. */
static size_t
pco_conf_index_at(const pco_conf_hdr_t *h, size_t off, const char *fn)
{
    const pco_setting_t  *s = h->module->settings;
    size_t                k;

    for (k = 0; s != NULL && s[k].name != NULL; k++) {
        if (pco_conf_off_in(&s[k], off)) {
            return k;
        }
    }
    /* a programming error in a module (an offset into another struct, a member that is no
     * setting): say so loudly rather than answer "unset" */
    fprintf(stderr, "%s: module \"%s\" has no setting at offset %zu\n", fn, h->module->name,
            off);
    abort();
}

bool
pco_conf_hdr_isset(const pco_conf_hdr_t *h, size_t i)
{
    return i < PCO_CONF_MAX_SETTINGS && (h->set[i / 64] >> (i % 64)) & 1;
}

static void
pco_conf_hdr_mark(pco_conf_hdr_t *h, size_t i)
{
    h->set[i / 64] |= (uint64_t) 1 << (i % 64);
}

bool
pco_conf_is_set_at(const void *conf, size_t off)
{
    const pco_conf_hdr_t  *h = pco_conf_hdr(conf);

    return pco_conf_hdr_isset(h, pco_conf_index_at(h, off, "pco_conf_is_set_at"));
}

/* The innermost written member that holds [off, off + size): the member itself, or the
 * nested group around it. A group and its first member share their offset: the size tells
 * them apart. */
static const pco_conf_src_t *
pco_conf_msrc_find(const pco_conf_msrc_t *r, size_t off, size_t size)
{
    const pco_conf_msrc_t  *best = NULL;
    bool                    in;

    for (; r != NULL; r = r->next) {
        in = (r->size == 0) ? r->off == off                     /* a CUSTOM without a size */
                            : off >= r->off && off + pco_max(size, 1) <= r->off + r->size;
        if (in && (best == NULL || r->size < best->size)) {
            best = r;
        }
    }
    return best ? &best->src : NULL;
}

const pco_conf_src_t *
pco_conf_src_at(const void *conf, size_t off, size_t size)
{
    const pco_conf_hdr_t  *h = pco_conf_hdr(conf);
    size_t                 k = pco_conf_index_at(h, off, "pco_conf_src_at");
    const pco_conf_src_t  *m;

    if (!pco_conf_hdr_isset(h, k)) {
        return &h->node->src;
    }
    m = pco_conf_msrc_find(h->msrc[k], off, size);
    return m ? m : &h->src[k];
}

const pco_conf_src_t *
pco_conf_elt_src_at(const pco_conf_list_t *l, size_t i, size_t off, size_t size)
{
    const pco_conf_src_t  *m;

    if (i >= l->n || l->src == NULL) {
        fprintf(stderr, "pco_conf_elt_src_at: element %zu of a list of %zu\n", i, l->n);
        abort();
    }
    m = l->msrc ? pco_conf_msrc_find(l->msrc[i], off, size) : NULL;
    return m ? m : &l->src[i];
}

/* ---- nodes ----------------------------------------------------------------------------- */

static size_t
pco_conf_nmodules(void)
{
    size_t  n = 0;

    while (pco_modules[n] != NULL) {
        n++;
    }
    return n;
}

/* The default of every setting of every module, parsed once per load ([module][setting];
 * NULL for a CUSTOM without elt_size, which is parsed in each node). */
static void ***
pco_conf_defaults(pco_conf_t *cf, size_t nm)
{
    void                 ***d;
    const pco_setting_t    *s;
    size_t                  i, k, ns, sz;

    d = pco_pcalloc(cf->pool, sizeof(void **) * (nm ? nm : 1));
    if (d == NULL) {
        return NULL;
    }
    for (i = 0; i < nm; i++) {
        if (pco_modules[i]->conf_size == 0 || pco_modules[i]->settings == NULL) {
            continue;
        }
        for (ns = 0; pco_modules[i]->settings[ns].name != NULL; ns++) {
            /* count */
        }
        d[i] = pco_pcalloc(cf->pool, sizeof(void *) * (ns ? ns : 1));
        if (d[i] == NULL) {
            return NULL;
        }
        for (k = 0; k < ns; k++) {
            s = &pco_modules[i]->settings[k];
            sz = pco_conf_setting_size(s);
            if (s->type == PCO_CONF_SCOPE || (s->type == PCO_CONF_CUSTOM && sz == 0)) {
                continue;
            }
            d[i][k] = pco_pcalloc(cf->pool, sz ? sz : 1);
            if (d[i][k] == NULL) {
                return NULL;
            }
            pco_conf_fill_default(cf, s, d[i][k]);
        }
    }
    return d;
}

/* Allocates module i's conf of node x (hidden header first) and fills its defaults. */
static int
pco_conf_conf_create(pco_conf_t *cf, pco_conf_xnode_t *x, size_t i)
{
    const pco_module_t    *m = pco_modules[i];
    const pco_setting_t   *s;
    pco_conf_hdr_t        *h;
    size_t                 k, ns;
    u_char                *p;

    for (ns = 0; m->settings != NULL && m->settings[ns].name != NULL; ns++) {
        /* count */
    }
    p = pco_pcalloc(cf->pool, PCO_CONF_HDR_SIZE + m->conf_size);
    if (p == NULL) {
        return PCO_ERROR;
    }
    h = (pco_conf_hdr_t *) p;
    h->module = m;
    h->node = &x->node;
    h->n = pco_min(ns, (size_t) PCO_CONF_MAX_SETTINGS);
    h->src = pco_pcalloc(cf->pool, sizeof(pco_conf_src_t) * (h->n ? h->n : 1));
    h->cs = pco_pcalloc(cf->pool, sizeof(config_setting_t *) * (h->n ? h->n : 1));
    h->msrc = pco_pcalloc(cf->pool, sizeof(pco_conf_msrc_t *) * (h->n ? h->n : 1));
    if (h->src == NULL || h->cs == NULL || h->msrc == NULL) {
        return PCO_ERROR;
    }
    x->node.confs[m->index] = p + PCO_CONF_HDR_SIZE;
    for (k = 0; k < ns; k++) {
        s = &m->settings[k];
        if (!(s->scopes & x->node.scope) || s->type == PCO_CONF_SCOPE) {
            continue;
        }
        if (x->defaults[i][k] != NULL) {
            memcpy(p + PCO_CONF_HDR_SIZE + s->offset, x->defaults[i][k],
                   pco_conf_setting_size(s));
        } else {
            pco_conf_fill_default(cf, s, p + PCO_CONF_HDR_SIZE + s->offset);
        }
    }
    return PCO_OK;
}

static pco_conf_node_t *
pco_conf_node_create(pco_conf_t *cf, pco_conf_node_t *parent, unsigned scope,
                     const pco_setting_t *by, const config_setting_t *cs, unsigned index)
{
    pco_conf_xnode_t      *x;
    pco_conf_node_t       *node;
    size_t                 nm = pco_conf_nmodules(), i;

    x = pco_pcalloc(cf->pool, sizeof(pco_conf_xnode_t));
    if (x == NULL) {
        return NULL;
    }
    node = &x->node;
    x->by = by;
    x->defaults = parent ? ((pco_conf_xnode_t *) parent)->defaults : pco_conf_defaults(cf, nm);
    if (x->defaults == NULL) {
        return NULL;
    }
    node->scope = scope;
    node->parent = parent;
    node->index = index;
    node->confs = pco_pcalloc(cf->pool, sizeof(void *) * (nm ? nm : 1));
    if (node->confs == NULL) {
        return NULL;
    }
    if (cs != NULL) {
        pco_conf_src_set(cf, &node->src, cs);
    } else if (parent != NULL) {
        node->src = parent->src;
    } else {
        node->src.file = pco_conf_show_file(config_setting_source_file(cf->config.root));
        node->src.line = 1;
        node->src.path = "";
        if (node->src.file == NULL || strcmp(node->src.file, "(default)") == 0) {
            node->src.file = cf->file;
        }
    }

    for (i = 0; i < nm; i++) {
        if (pco_modules[i]->conf_size != 0 && pco_conf_conf_create(cf, x, i) != PCO_OK) {
            return NULL;
        }
    }

    if (parent != NULL) {
        /* capacity: 8, then doubling */
        if (parent->nchildren == 0
            || (parent->nchildren >= 8 && (parent->nchildren & (parent->nchildren - 1)) == 0))
        {
            pco_conf_node_t **c = pco_palloc(cf->pool, sizeof(void *)
                                                       * pco_max(8, 2 * parent->nchildren));

            if (c == NULL) {
                return NULL;
            }
            if (parent->nchildren) {
                memcpy(c, parent->children, sizeof(void *) * parent->nchildren);
            }
            parent->children = c;
        }
        parent->children[parent->nchildren++] = node;
    }
    return node;
}

/* A SCOPE setting: a group -> one child node, a list of groups -> one child each. */
static void
pco_conf_open_scope(pco_conf_t *cf, pco_conf_node_t *node, const pco_setting_t *s,
                    const config_setting_t *cs)
{
    int                      type = config_setting_type(cs), n, i;
    const config_setting_t  *e;
    pco_conf_node_t         *child;

    if (type != CONFIG_TYPE_GROUP && type != CONFIG_TYPE_LIST) {
        (void) pco_conf_bad_type(cf, s, cs);
        return;
    }
    n = (type == CONFIG_TYPE_GROUP) ? 1 : config_setting_length(cs);
    for (i = 0; i < n; i++) {
        e = (type == CONFIG_TYPE_GROUP) ? cs : config_setting_get_elem(cs, (unsigned) i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            (void) pco_conf_bad_type(cf, s, e);
            continue;
        }
        child = pco_conf_node_create(cf, node, s->child_scope, s, e, (unsigned) i);
        if (child == NULL) {
            pco_conf_error(cf, e, "out of memory");
            return;
        }
        ((pco_conf_xnode_t *) child)->is_list = (type == CONFIG_TYPE_LIST);
        pco_conf_walk(cf, child, e);
    }
}

/* Parses setting k of a module conf from e; when usable (PCO_DECLINED: a group with a
 * failed optional member) marks it set with where it and its group members were written. */
static void
pco_conf_walk_value(pco_conf_t *cf, void *conf, size_t k, const config_setting_t *e)
{
    pco_conf_hdr_t          *h = pco_conf_hdr(conf);
    const pco_setting_t     *s = &h->module->settings[k];
    struct pco_conf_sink_s   sink, *saved = cf->sink;
    pco_conf_msrc_t         *members = NULL;
    int                      rc;

    sink.base = conf;
    sink.size = h->module->conf_size;
    sink.head = &members;
    cf->sink = &sink;
    rc = pco_conf_parse_value(cf, s, e, (u_char *) conf + s->offset);
    cf->sink = saved;
    if ((rc == PCO_OK || rc == PCO_DECLINED) && k < h->n) {
        pco_conf_hdr_mark(h, k);
        pco_conf_src_set(cf, &h->src[k], e);
        h->cs[k] = e;
        h->msrc[k] = members;
    }
}

static void
pco_conf_walk_member(pco_conf_t *cf, pco_conf_node_t *node, const config_setting_t *e)
{
    const char           *name = config_setting_name(e), *best = NULL;
    const pco_setting_t  *s;
    const pco_module_t   *m;
    size_t                i, k, bestd = SIZE_MAX;
    bool                  elsewhere = false;

    for (i = 0; pco_modules[i] != NULL; i++) {
        m = pco_modules[i];
        for (k = 0; m->settings != NULL && m->settings[k].name != NULL; k++) {
            s = &m->settings[k];
            if (!(s->scopes & node->scope)) {
                elsewhere |= (strcmp(s->name, name) == 0);
                continue;
            }
            if (strcmp(s->name, name) != 0) {
                pco_conf_suggest(name, s->name, &best, &bestd);
                continue;
            }
            if (s->type == PCO_CONF_SCOPE) {
                pco_conf_open_scope(cf, node, s, e);
                return;
            }
            if (node->confs[m->index] == NULL) {
                pco_conf_error(cf, e, "module \"%s\" has no configuration", m->name);
                return;
            }
            pco_conf_walk_value(cf, node->confs[m->index], k, e);
            return;
        }
    }
    if (elsewhere) {
        pco_conf_error(cf, e, "setting \"%s\" is not allowed here", name);
        return;
    }
    pco_conf_unknown(cf, e, best);
}

static void
pco_conf_walk(pco_conf_t *cf, pco_conf_node_t *node, const config_setting_t *g)
{
    int  i, n = config_setting_length(g);

    for (i = 0; i < n; i++) {
        pco_conf_walk_member(cf, node, config_setting_get_elem(g, (unsigned) i));
    }
}

/* ---- inheritance ----------------------------------------------------------------------- */

static const pco_setting_t *
pco_conf_scope_setting(unsigned parent_scope, unsigned child_scope)
{
    const pco_setting_t  *s;
    size_t                i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        for (s = pco_modules[i]->settings; s != NULL && s->name != NULL; s++) {
            if (s->type == PCO_CONF_SCOPE && (s->scopes & parent_scope)
                && s->child_scope == child_scope)
            {
                return s;
            }
        }
    }
    return NULL;
}

/* Sets node->inherit for the children of node (creating inherit_scope siblings). */
static int
pco_conf_resolve(pco_conf_t *cf, pco_conf_node_t *node)
{
    pco_conf_xnode_t  *x;
    pco_conf_node_t   *sib;
    size_t             i, j, n = node->nchildren;
    unsigned           want;

    for (i = 0; i < n; i++) {
        x = (pco_conf_xnode_t *) node->children[i];
        x->node.inherit = node;
        want = x->by ? x->by->inherit_scope : 0;
        if (want == 0) {
            continue;
        }
        sib = NULL;
        for (j = 0; j < node->nchildren; j++) {
            if (node->children[j]->scope == want) {
                sib = node->children[j];
                break;
            }
        }
        if (sib == NULL) {
            sib = pco_conf_node_create(cf, node, want, pco_conf_scope_setting(node->scope, want),
                                       NULL, 0);
            if (sib == NULL) {
                return PCO_ERROR;
            }
            sib->inherit = node;
        }
        x->node.inherit = sib;
    }
    return PCO_OK;
}

static void
pco_conf_inherit_one(pco_conf_t *cf, pco_conf_node_t *node)
{
    pco_conf_xnode_t     *x = (pco_conf_xnode_t *) node;
    pco_conf_node_t      *p = node->inherit;
    const pco_module_t   *m;
    const pco_setting_t  *s;
    pco_conf_hdr_t       *hc, *hp;
    size_t                i, k, sz;

    if (x->state != 0 || p == NULL) {
        return;
    }
    x->state = 1;
    if (((pco_conf_xnode_t *) p)->state == 1 && p != node->parent) {
        return;                                   /* a cycle in the tables: give up */
    }
    pco_conf_inherit_one(cf, p);
    for (i = 0; pco_modules[i] != NULL; i++) {
        m = pco_modules[i];
        if (node->confs[m->index] == NULL || p->confs[m->index] == NULL) {
            continue;
        }
        hc = pco_conf_hdr(node->confs[m->index]);
        hp = pco_conf_hdr(p->confs[m->index]);
        for (k = 0; k < hc->n; k++) {
            s = &m->settings[k];
            if (s->type == PCO_CONF_SCOPE || !(s->scopes & node->scope)
                || !(s->scopes & p->scope) || (s->flags & PCO_CONF_NOINHERIT)
                || pco_conf_hdr_isset(hc, k) || (sz = pco_conf_setting_size(s)) == 0)
            {
                continue;
            }
            memcpy((u_char *) node->confs[m->index] + s->offset,
                   (u_char *) p->confs[m->index] + s->offset, sz);
            if (pco_conf_hdr_isset(hp, k)) {
                pco_conf_hdr_mark(hc, k);
                hc->src[k] = hp->src[k];
                hc->cs[k] = hp->cs[k];
                hc->msrc[k] = hp->msrc[k];
            }
        }
        if (m->conf_merge != NULL
            && m->conf_merge(cf, node, p->confs[m->index], node->confs[m->index]) != PCO_OK
            && cf->errors == 0)
        {
            cf->errors++;
        }
    }
    x->state = 2;
}

static int
pco_conf_inherit(pco_conf_t *cf, pco_conf_node_t *node, unsigned depth)
{
    size_t  i;

    if (depth > 64 || pco_conf_resolve(cf, node) != PCO_OK) {
        return PCO_ERROR;
    }
    for (i = 0; i < node->nchildren; i++) {
        pco_conf_inherit_one(cf, node->children[i]);
    }
    for (i = 0; i < node->nchildren; i++) {
        if (pco_conf_inherit(cf, node->children[i], depth + 1) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

/* ---- load ------------------------------------------------------------------------------ */

/* Reads the text of the file that c failed on (NULL when it cannot: the message goes
 * without the line). */
static char *
pco_conf_read_text(const char *path, size_t *len)
{
    FILE    *f = fopen(path, "rb");
    char    *buf = NULL;
    size_t   cap = 0, n;

    *len = 0;
    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (*len == cap) {
            char *nb = (cap < 16 * 1024 * 1024) ? realloc(buf, cap ? 2 * cap : 4096) : NULL;

            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap = cap ? 2 * cap : 4096;
        }
        n = fread(buf + *len, 1, cap - *len, f);
        if (n == 0) {
            break;
        }
        *len += n;
    }
    fclose(f);
    return buf;
}

void
pco_conf_read_error(pco_conf_t *cf, const config_t *c, const char *file)
{
    FILE        *out = cf->err ? cf->err : stderr;
    const char  *ef = config_error_file(c), *dir = config_get_include_dir(c);
    char         path[PATH_MAX], shown[PCO_CONF_HINT_SHOWN + 8], hint[256], *text;
    size_t       len;
    int          line = config_error_line(c);

    cf->errors++;
    if (config_error_type(c) == CONFIG_ERR_FILE_IO && ef == NULL) {
        fprintf(out, "%s: cannot read the configuration file: %s\n", file, strerror(errno));
        return;
    }
    /* libconfig names a file it reached through @include as written there */
    if (ef == NULL || strcmp(ef, file) == 0 || ef[0] == '/' || dir == NULL) {
        snprintf(path, sizeof(path), "%s", ef ? ef : file);
    } else {
        snprintf(path, sizeof(path), "%s/%s", dir, ef);
    }
    text = (strcmp(config_error_text(c), "syntax error") == 0)
           ? pco_conf_read_text(path, &len) : NULL;
    if (text == NULL) {
        fprintf(out, "%s:%d: %s\n", pco_conf_show_file(path), line, config_error_text(c));
        return;
    }
    pco_conf_syntax_hint(text, len, line, shown, sizeof(shown), hint, sizeof(hint));
    free(text);
    if (shown[0] != '\0') {
        fprintf(out, "%s:%d: syntax error in `%s`%s%s\n", pco_conf_show_file(path), line, shown,
                hint[0] ? ": " : "", hint);
    } else {
        fprintf(out, "%s:%d: syntax error at the end of the file%s%s\n",
                pco_conf_show_file(path), line, hint[0] ? ": " : "", hint);
    }
}

static int
pco_conf_paths(pco_conf_t *cf, const char *file, char **incdir)
{
    char        cwd[PATH_MAX], *abs;
    const char *slash, *rel = file;
    size_t      l;

    if (file[0] == '/') {
        abs = pco_pstrndup(cf->pool, file, strlen(file));
    } else {
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            fprintf(cf->err ? cf->err : stderr, "%s: getcwd() failed: %s\n", file,
                    strerror(errno));
            return PCO_ERROR;
        }
        while (rel[0] == '.' && rel[1] == '/') {
            rel += 2;
        }
        l = strlen(cwd) + strlen(rel) + 2;
        abs = pco_pnalloc(cf->pool, l);
        if (abs != NULL) {
            snprintf(abs, l, "%s/%s", cwd, rel);
        }
    }
    if (abs == NULL) {
        return PCO_ERROR;
    }
    cf->file = abs;
    slash = strrchr(abs, '/');
    cf->conf_dir = pco_pstrndup(cf->pool, abs, (size_t) (slash - abs) + 1);
    slash = strrchr(file, '/');
    *incdir = slash ? pco_pstrndup(cf->pool, file, slash == file ? 1 : (size_t) (slash - file))
                    : pco_pstrndup(cf->pool, ".", 1);
    return (cf->conf_dir && *incdir) ? PCO_OK : PCO_ERROR;
}

int
pco_conf_load(pco_conf_t *cf, const char *file, const char *extra)
{
    char  *incdir;

    cf->errors = 0;
    cf->warnings = 0;
    cf->root = NULL;
    config_init(&cf->config);
    config_set_options(&cf->config,
                       config_get_options(&cf->config) & ~CONFIG_OPTION_AUTOCONVERT);
    if (pco_conf_paths(cf, file, &incdir) != PCO_OK) {
        cf->errors++;
        return PCO_ERROR;
    }
    config_set_include_dir(&cf->config, incdir);

    if (config_read_file(&cf->config, file) != CONFIG_TRUE) {
        pco_conf_read_error(cf, &cf->config, file);
        return PCO_ERROR;
    }
    pco_conf_widen_ints(&cf->config, file, NULL);
    if (extra != NULL && extra[0] != '\0' && pco_conf_load_extra(cf, extra) != PCO_OK) {
        return PCO_ERROR;
    }
    /* after -g, which may replace the list of includes as it replaces any other setting */
    pco_conf_include(cf);

    cf->root = pco_conf_node_create(cf, NULL, PCO_SCOPE_TOP, NULL, NULL, 0);
    if (cf->root == NULL) {
        fprintf(cf->err ? cf->err : stderr, "%s: out of memory\n", file);
        cf->errors++;
        return PCO_ERROR;
    }
    ((pco_conf_xnode_t *) cf->root)->state = 2;
    pco_conf_walk(cf, cf->root, config_root_setting(&cf->config));
    if (pco_conf_inherit(cf, cf->root, 0) != PCO_OK && cf->errors == 0) {
        fprintf(cf->err ? cf->err : stderr, "%s: out of memory\n", file);
        cf->errors++;
    }
    return cf->errors ? PCO_ERROR : PCO_OK;
}

void
pco_conf_free(pco_conf_t *cf)
{
    config_destroy(&cf->config);
}
