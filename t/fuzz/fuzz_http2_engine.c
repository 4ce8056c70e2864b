/*
 * fuzz_http2_engine.c: libFuzzer target for HTTP/2 all the way into the request engine. A
 * configuration with an `http2 = true` listener (routes: return with variables, 204, a
 * redirect, a denied path, static files, a route that reads the body) is loaded once, as a
 * worker would (the http module's init_worker, the event loop, the connection table). Each
 * input is what a client sends after the HTTP/2 connection preface: it is written into one
 * end of a socket pair whose other end is accepted like a client connection on that
 * listener, and the worker's event loop runs until the input is taken, then the client
 * closes and the loop runs until the connection is gone. So the session, the stream bridge,
 * the engine's phases, filters and writer, and the connection's endings all run on
 * arbitrary frames. Invariants: no crash, no sanitizer report, no leak (LeakSanitizer), the
 * connection is closed and no connection struct is left in use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include "pco_core.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef PCO_HAVE_HTTP2

#include <fcntl.h>
#include <sys/stat.h>
#include "pco_cycle.h"
#include "pco_module.h"
#include "pco_conn.h"
#include "pco_event.h"
#include "pco_listen.h"
#include "pco_log.h"
#include "pco_time.h"

#define PCO_FUZZ_DIR   "/tmp/portico-fuzz-h2"
#define PCO_FUZZ_PASSES  64

static const char  pco_fuzz_conf[] =
    "worker_processes = 1;\n"
    "servers = ( {\n"
    "  listen = ( { address = \"127.0.0.1:1\"; http2 = true; } ); access_log = false;\n"
    "  http2_max_concurrent_streams = 8; http2_initial_window_size = \"4k\";\n"
    "  http2_max_header_list_size = \"4k\"; client_max_body_size = \"8k\";\n"
    "  routes = (\n"
    "    { match = { path = \"/204\"; }; return = { status = 204; }; },\n"
    "    { match = { path = \"/go\"; }; return = { status = 302; location = \"/r?$args\"; }; },\n"
    "    { match = { path_prefix = \"/deny\"; }; access = [\"deny all\"];\n"
    "      return = { status = 200; body = \"no\"; }; },\n"
    "    { match = { path_prefix = \"/files/\"; }; static = { root = \"" PCO_FUZZ_DIR "\"; "
    "}; },\n"
    "    { match = { path_prefix = \"/\"; };\n"
    "      return = { status = 200; body = \"$server_protocol $request_method $uri $args "
    "$http_user_agent $request_id\\n\"; }; }\n"
    "  ); } );\n";

static pco_cycle_t  *pco_fuzz_cycle;

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static void
pco_fuzz_file(const char *name, size_t size)
{
    char   path[128], *buf = malloc(size + 1);
    FILE  *f;

    pco_fuzz_check(buf != NULL);
    memset(buf, 'x', size);
    snprintf(path, sizeof(path), PCO_FUZZ_DIR "/files/%s", name);
    f = fopen(path, "w");
    pco_fuzz_check(f != NULL && fwrite(buf, 1, size, f) == size && fclose(f) == 0);
    free(buf);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char   path[] = PCO_FUZZ_DIR "/portico.conf";
    FILE  *f, *err;

    (void) argc;
    (void) argv;
    pco_time_init();
    pco_log_init_stderr();
    pco_fuzz_check(pco_modules_init() == PCO_OK);
    (void) mkdir(PCO_FUZZ_DIR, 0700);
    (void) mkdir(PCO_FUZZ_DIR "/files", 0700);
    pco_fuzz_file("small.txt", 100);
    pco_fuzz_file("big.bin", 100000);
    f = fopen(path, "w");
    pco_fuzz_check(f != NULL && fputs(pco_fuzz_conf, f) >= 0 && fclose(f) == 0);
    err = getenv("PCO_FUZZ_VERBOSE") != NULL ? stderr : fopen("/dev/null", "w");
    pco_fuzz_cycle = pco_cycle_create(PCO_FUZZ_DIR "/", path, NULL, true, err);
    pco_fuzz_check(pco_fuzz_cycle != NULL && pco_fuzz_cycle->listening != NULL);
    pco_cycle = pco_fuzz_cycle;
    if (getenv("PCO_FUZZ_VERBOSE") == NULL) {
        pco_log->level = PCO_LOG_ALERT;
    }
    pco_fuzz_check(pco_event_init(64) == PCO_OK);
    pco_fuzz_check(pco_conn_pool_init(16) == PCO_OK);
    pco_fuzz_check(pco_module_find("http")->init_worker(pco_fuzz_cycle) == PCO_OK);
    return 0;
}

/* Reads and drops what the server wrote to the client end. */
static void
pco_fuzz_read_peer(int fd)
{
    u_char  buf[65536];

    while (read(fd, buf, sizeof(buf)) > 0) {
        /* drop */
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char   preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    pco_listening_t    *ls = pco_fuzz_cycle->listening;
    pco_connection_t   *c;
    int                 sv[2];
    unsigned            i;
    ssize_t             n;
    size_t              off = 0;

    pco_fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)
                   == 0);
    c = pco_conn_get(sv[0]);
    pco_fuzz_check(c != NULL);
    c->listening = ls;
    c->sockaddr.sa.sa_family = AF_UNIX;
    c->socklen = sizeof(sa_family_t);
    pco_fuzz_check(write(sv[1], preface, sizeof(preface) - 1) == sizeof(preface) - 1);
    ls->handler(c);
    for (i = 0; i < PCO_FUZZ_PASSES && (off < size || i < 4); i++) {
        if (off < size) {
            n = write(sv[1], data + off, size - off);
            off += n > 0 ? (size_t) n : 0;
        }
        pco_fuzz_read_peer(sv[1]);
        (void) pco_event_process(0);
    }
    close(sv[1]);       /* the client goes: the connection must end */
    for (i = 0; i < PCO_FUZZ_PASSES && pco_conn_used() > 0; i++) {
        (void) pco_event_process(0);
    }
    pco_fuzz_check(pco_conn_used() == 0);
    return 0;
}

#else

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) data;
    (void) size;
    return 0;      /* built without the http2 module */
}

#endif
