/*
 * pco_admin.h: the admin module's internals (docs/admin.md): the runtime control API of
 * upstream servers, served by the HTTP engine on its own Unix socket (top-level `admin`
 * block) and/or as the action of routes (`admin = true`), and its state file.
 */
#ifndef PCO_ADMIN_H
#define PCO_ADMIN_H

#include "pco_http.h"
#include "pco_upstream.h"
#include "pco_admin_json.h"

extern pco_module_t pco_admin_module;

/* The top-level `admin` block. */
typedef struct {
    pco_str_t    socket;       /* "logs/admin.sock" (relative to the prefix); empty: none */
    pco_str_t    mode;         /* "0600" */
    pco_str_t    group;        /* empty: the master's group */
    pco_str_t    state_file;   /* empty: no state file */
} pco_admin_block_t;

typedef struct {
    pco_admin_block_t   block;     /* top scope */
    bool                route;     /* route scope: admin = true */
    bool                has_access;   /* route: the route has its own `access` list */
} pco_admin_conf_t;

/* Per generation (cycle->module_ctx). */
typedef struct {
    const pco_admin_block_t  *block;      /* NULL without the block */
    char                     *socket_path;   /* absolute, NUL-terminated */
    char                     *state_path;    /* absolute, NUL-terminated, or NULL */
    mode_t                    mode;
    gid_t                     gid;           /* (gid_t) -1: unchanged */
    pco_http_template_t      *remote_user;   /* "$remote_user" when auth_basic is built */
} pco_admin_ctx_t;

/* The content handler of the socket and of `admin = true` routes (pco_admin_api.c). */
int pco_admin_handler(pco_http_request_t *r);

/* State file (pco_admin_state.c). The helper process ("admin state writer") rewrites it
 * (write aside, fsync, rename) soon after the zone version moves; the master reads it
 * at start (and at a reload whose upstream zone was not kept) and applies it. */
int pco_admin_state_helper_init(pco_cycle_t *cycle);
void pco_admin_state_apply(pco_cycle_t *cycle, const char *path);
/* One line per upstream server whose state differs from the configuration (pure: the
 * unit tests and the writer): JSON lines into o. */
void pco_admin_state_render(pco_cycle_t *cycle, pco_admin_out_t *o);

#endif
