/*
 * pco_admin.c: the admin module (docs/admin.md): runtime control of upstream servers
 * without a reload. Two ways in, both served by the workers' HTTP engine:
 *   admin = { socket = "logs/admin.sock"; mode = "0600"; group = "ops";
 *             state_file = "state/upstreams.json"; };          # top level
 *   { match = { path_prefix = "/admin/"; }; admin = true; access = [...]; }   # a route
 * The socket is the module's own listener (pco_http_listen_module): its file permissions
 * are the access control (the master binds it before dropping privileges, then sets mode
 * and group at init_master; workers only accept on the descriptor they inherit, so the
 * privilege drop does not affect it). A route is refused (403) to a client outside its
 * `access` list or, without one, to a non-loopback client, as the status route.
 *
 * Hooks: conf_done (master, -t too: settings checks, the listener and the route actions,
 * the state writer helper; no side effects), init_master (master, start and reload: the
 * socket's mode and group; the state file applied when the upstream zone is fresh). The
 * content handler (pco_admin_api.c) runs in workers and never blocks; changes go to the
 * upstream module's shared zone (pco_upstream_dyn_*). PCO_OK or PCO_ERROR after reporting.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pco_admin.h"
#include "pco_log.h"

static int pco_admin_conf_done(pco_conf_t *cf, pco_cycle_t *cycle);
static int pco_admin_init_master(pco_cycle_t *cycle, pco_cycle_t *old);

static const pco_setting_t pco_admin_block_settings[] = {
    { .name = "socket", .type = PCO_CONF_STRING, .offset = offsetof(pco_admin_block_t, socket),
      .def = "\"logs/admin.sock\"",
      .help = "Unix socket of the admin API, relative to the prefix; \"\" = none" },
    { .name = "mode", .type = PCO_CONF_STRING, .offset = offsetof(pco_admin_block_t, mode),
      .def = "\"0600\"", .help = "permissions of the socket file (octal): its access control" },
    { .name = "group", .type = PCO_CONF_STRING, .offset = offsetof(pco_admin_block_t, group),
      .help = "group of the socket file (default: the master's)" },
    { .name = "state_file", .type = PCO_CONF_STRING,
      .offset = offsetof(pco_admin_block_t, state_file),
      .help = "file keeping runtime changes across restarts, relative to the prefix; its "
              "directory must be writable by `user`" },
    PCO_SETTINGS_END
};

static const pco_setting_t pco_admin_settings[] = {
    { .name = "admin", .scopes = PCO_SCOPE_TOP, .type = PCO_CONF_GROUP,
      .offset = offsetof(pco_admin_conf_t, block), .sub = pco_admin_block_settings,
      .help = "the admin API on a Unix socket: { socket; mode; group; state_file; }" },
    { .name = "admin", .scopes = PCO_SCOPE_ROUTE, .type = PCO_CONF_BOOL,
      .offset = offsetof(pco_admin_conf_t, route), .def = "false",
      .flags = PCO_CONF_NOINHERIT,
      .help = "route action: the admin API (loopback clients only unless the route has "
              "`access`)" },
    PCO_SETTINGS_END
};

pco_module_t pco_admin_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "admin",
    .settings = pco_admin_settings,
    .conf_size = sizeof(pco_admin_conf_t),
    .conf_done = pco_admin_conf_done,
    .init_master = pco_admin_init_master,
};

/* prefix + path unless path is absolute, NUL-terminated in the pool. */
static char *
pco_admin_path(pco_conf_t *cf, const pco_str_t *path)
{
    size_t  pl = path->data[0] == '/' ? 0 : strlen(cf->prefix);
    char   *p = pco_palloc(cf->pool, pl + path->len + 1);

    if (p != NULL) {
        memcpy(p, cf->prefix, pl);
        memcpy(p + pl, path->data, path->len);
        p[pl + path->len] = '\0';
    }
    return p;
}

/* The libconfig setting of a route node (servers[i].routes[j]). */
static config_setting_t *
pco_admin_setting_of(pco_conf_t *cf, const pco_conf_node_t *node)
{
    config_setting_t  *parent, *list;

    if (node->scope == PCO_SCOPE_SERVER) {
        list = config_lookup(&cf->config, "servers");
    } else {
        parent = node->parent != NULL ? pco_admin_setting_of(cf, node->parent) : NULL;
        list = parent != NULL ? config_setting_lookup(parent, "routes") : NULL;
    }
    if (list == NULL || !config_setting_is_list(list)) {
        return NULL;
    }
    return config_setting_get_elem(list, node->index);
}

/* The routes with admin = true get the handler. */
static int
pco_admin_routes(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_http_route_t  **routes;
    pco_admin_conf_t   *acf;
    config_setting_t   *rcs;
    size_t              n, i;
    int                 rc = PCO_OK;

    n = pco_http_routes(cycle, &routes);
    for (i = 0; i < n; i++) {
        acf = pco_conf_get(routes[i]->node, &pco_admin_module);
        if (acf == NULL || !acf->route) {
            continue;
        }
        rcs = pco_admin_setting_of(cf, routes[i]->node);
        acf->has_access = rcs != NULL && config_setting_lookup(rcs, "access") != NULL;
        if (pco_http_route_set_action(cf, routes[i], "admin", pco_admin_handler,
                                      PCO_CONF_SRC(acf, pco_admin_conf_t, route)) != PCO_OK)
        {
            rc = PCO_ERROR;
        }
    }
    return rc;
}

/* The socket: mode, group, path and the listener. */
static int
pco_admin_socket(pco_conf_t *cf, pco_cycle_t *cycle, pco_admin_ctx_t *ctx,
                 pco_admin_conf_t *acf)
{
    const pco_conf_src_t  *src = PCO_CONF_SRC(acf, pco_admin_conf_t, block);
    const pco_admin_block_t *b = &acf->block;
    struct group          *gr;
    char                  *end, text[sizeof(((struct sockaddr_un *) 0)->sun_path) + 8];
    long                   mode;
    int                    n;

    mode = strtol((const char *) b->mode.data, &end, 8);
    if (b->mode.len == 0 || *end != '\0' || mode < 0 || mode > 0777) {
        pco_conf_error_src(cf, PCO_CONF_SRC(acf, pco_admin_conf_t, block.mode),
                           "\"%s\" is not an octal mode (e.g. \"0660\")",
                           (const char *) b->mode.data);
        return PCO_ERROR;
    }
    ctx->mode = (mode_t) mode;
    ctx->gid = (gid_t) -1;
    if (b->group.len > 0) {
        gr = getgrnam((const char *) b->group.data);
        if (gr == NULL) {
            pco_conf_error_src(cf, PCO_CONF_SRC(acf, pco_admin_conf_t, block.group),
                               "unknown group \"%s\"", (const char *) b->group.data);
            return PCO_ERROR;
        }
        ctx->gid = gr->gr_gid;
    }
    if (b->socket.len == 0) {
        return PCO_OK;
    }
    ctx->socket_path = pco_admin_path(cf, &b->socket);
    if (ctx->socket_path == NULL) {
        return PCO_ERROR;
    }
    n = snprintf(text, sizeof(text), "unix:%s", ctx->socket_path);
    if (n < 0 || (size_t) n >= sizeof(text) || strlen(ctx->socket_path) >= sizeof(text) - 8) {
        pco_conf_error_src(cf, PCO_CONF_SRC(acf, pco_admin_conf_t, block.socket),
                           "the path \"%s\" is too long for a Unix socket",
                           ctx->socket_path);
        return PCO_ERROR;
    }
    return pco_http_listen_module(cf, cycle, text, "admin", pco_admin_handler, src);
}

static int
pco_admin_conf_done(pco_conf_t *cf, pco_cycle_t *cycle)
{
    pco_admin_conf_t  *acf = pco_conf_get(cf->root, &pco_admin_module);
    pco_admin_ctx_t   *ctx;
    pco_helper_t       h;
    int                rc = PCO_OK;

    ctx = pco_pcalloc(cf->pool, sizeof(pco_admin_ctx_t));
    if (ctx == NULL) {
        return PCO_ERROR;
    }
    cycle->module_ctx[pco_admin_module.index] = ctx;
    if (pco_module_find("auth_basic") != NULL) {
        static const pco_str_t  ru = pco_string("$remote_user");

        ctx->remote_user = pco_http_template_compile(cf, cycle, &ru, &cf->root->src);
        if (ctx->remote_user == NULL) {
            return PCO_ERROR;
        }
    }
    if (pco_admin_routes(cf, cycle) != PCO_OK) {
        rc = PCO_ERROR;
    }
    if (acf == NULL || !PCO_CONF_IS_SET(acf, pco_admin_conf_t, block)) {
        return rc;
    }
    ctx->block = &acf->block;
    if (pco_admin_socket(cf, cycle, ctx, acf) != PCO_OK) {
        return PCO_ERROR;
    }
    if (acf->block.state_file.len > 0) {
        ctx->state_path = pco_admin_path(cf, &acf->block.state_file);
        if (ctx->state_path == NULL) {
            return PCO_ERROR;
        }
        memset(&h, 0, sizeof(h));
        h.title = "admin state writer";
        h.init = pco_admin_state_helper_init;
        if (pco_helper_add(cycle, &h) != PCO_OK) {
            return PCO_ERROR;
        }
    }
    return rc;
}

static int
pco_admin_init_master(pco_cycle_t *cycle, pco_cycle_t *old)
{
    pco_admin_ctx_t  *ctx = cycle->module_ctx[pco_admin_module.index];

    pco_unused(old);
    if (ctx == NULL || ctx->block == NULL) {
        return PCO_OK;
    }
    if (ctx->socket_path != NULL) {
        /* bound by the master (as root when started so): the file's owner, group and
         * mode decide who may connect */
        if (chmod(ctx->socket_path, ctx->mode) == -1) {
            pco_log_err(PCO_LOG_ALERT, pco_log, errno, "admin: chmod(\"%s\") failed",
                        ctx->socket_path);
            return PCO_ERROR;
        }
        if (ctx->gid != (gid_t) -1 && chown(ctx->socket_path, (uid_t) -1, ctx->gid) == -1) {
            pco_log_err(PCO_LOG_ALERT, pco_log, errno, "admin: chown(\"%s\") failed",
                        ctx->socket_path);
            return PCO_ERROR;
        }
    }
    if (ctx->state_path != NULL && !pco_upstream_zone_kept(cycle)) {
        pco_admin_state_apply(cycle, ctx->state_path);
    }
    return PCO_OK;
}
