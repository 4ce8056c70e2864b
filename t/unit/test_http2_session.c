/*
 * test_http2_session.c: modules/http2/pco_http2_session.c against an nghttp2 client
 * session, all bytes through memory: GET with a response body larger than the client's
 * window (deferred and resumed), POST with a body larger than the stream window (the
 * windows open only as the owner consumes), 200 concurrent streams against
 * max_concurrent_streams 128, malformed heads reset without reaching the owner, the header
 * list limit (431), graceful GOAWAY, and the defences: rapid reset (streams the client
 * cancels or makes the server reset), CONTINUATION flood, PING and WINDOW_UPDATE floods
 * end in GOAWAY ENHANCE_YOUR_CALM; destroying a session closes its open streams.
 * Skipped in a build without the module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include "pco_core.h"

#ifdef PCO_HAVE_HTTP2

#include <nghttp2/nghttp2.h>
#include "pco_time.h"
#include "pco_http2_session.h"

#define NSTREAMS  256            /* stream records, by (id - 1) / 2 */

typedef struct {
    /* server side (the owner) */
    pco_http2_stream_t  *st;
    int                  requests;       /* on_request calls */
    int                  status;         /* its status argument */
    size_t               received;       /* request body bytes */
    size_t               max_unconsumed;
    bool                 body_ok;        /* the bytes were the pattern */
    int                  ends;
    int                  server_closed;
    uint32_t             server_code;
    const u_char        *body;           /* response body to send */
    size_t               body_len, body_sent, chunk;
    /* client side */
    char                 status_text[4];
    bool                 saw_connection, saw_type;
    size_t               got;            /* response body bytes */
    bool                 got_ok;
    int                  client_closed;
    uint32_t             client_code;
    int                  rst_code;       /* -1: no RST_STREAM received */
    size_t               post_len, post_sent;
} pco_test_stream_t;

static pco_test_stream_t     pco_ts[NSTREAMS];
static pco_http2_session_t  *pco_srv;
static nghttp2_session      *pco_cli;
static int                   pco_goaway_code = -1;
static int32_t               pco_goaway_last = -1;
static int                   pco_server_input_rc;
static u_char               *pco_big;             /* response body source */
static bool                  pco_direct;          /* pump with pco_http2_session_output_direct */
static unsigned              pco_directs;         /* frames it gave where they lay */
#define PCO_BIG_LEN  (300 * 1024)

static u_char
pco_test_byte(size_t i)
{
    return (u_char) ((i * 7 + 3) & 0xff);
}

static pco_test_stream_t *
pco_test_rec(int32_t id)
{
    assert_true(id > 0 && (id - 1) / 2 < NSTREAMS);
    return &pco_ts[(id - 1) / 2];
}

/* ---- the owner ---------------------------------------------------------------------- */

static void
pco_test_send_more(pco_test_stream_t *t)
{
    size_t  n;
    bool    last;

    if (t->body == NULL || t->body_sent >= t->body_len) {
        return;
    }
    n = pco_min(t->chunk, t->body_len - t->body_sent);
    last = t->body_sent + n == t->body_len;
    assert_int_equal(pco_http2_stream_write(t->st, t->body + t->body_sent, n, last), PCO_OK);
    /* a second buffer while the first is pending waits */
    if (!last) {
        assert_int_equal(pco_http2_stream_write(t->st, t->body, 1, false), PCO_AGAIN);
    }
    t->body_sent += n;
}

static int
pco_test_on_request(pco_http2_stream_t *st, int status)
{
    pco_test_stream_t  *t = pco_test_rec(st->id);

    st->data = t;
    t->st = st;
    t->requests++;
    t->status = status;
    t->body_ok = true;
    return PCO_OK;
}

static int
pco_test_on_data(pco_http2_stream_t *st, const u_char *data, size_t len)
{
    pco_test_stream_t  *t = st->data;
    size_t              i;

    for (i = 0; i < len; i++) {
        if (data[i] != pco_test_byte(t->received + i)) {
            t->body_ok = false;
        }
    }
    t->received += len;
    t->max_unconsumed = pco_max(t->max_unconsumed, st->unconsumed);
    return PCO_OK;
}

static void
pco_test_on_end(pco_http2_stream_t *st)
{
    ((pco_test_stream_t *) st->data)->ends++;
}

static void
pco_test_on_drained(pco_http2_stream_t *st)
{
    pco_test_send_more(st->data);
}

static void
pco_test_on_close(pco_http2_stream_t *st, uint32_t code)
{
    pco_test_stream_t  *t = st->data;

    t->server_closed++;
    t->server_code = code;
    t->st = NULL;
}

static const pco_http2_handlers_t  pco_test_handlers = {
    pco_test_on_request, pco_test_on_data, pco_test_on_end, pco_test_on_drained,
    pco_test_on_close
};

/* ---- the client ------------------------------------------------------------------------ */

static int
pco_cli_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                  size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    pco_test_stream_t  *t = pco_test_rec(frame->hd.stream_id);

    (void) ng;
    (void) flags;
    (void) user;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0 && vlen == 3) {
        memcpy(t->status_text, value, 3);
    } else if (nlen == 10 && memcmp(name, "connection", 10) == 0) {
        t->saw_connection = true;
    } else if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
        t->saw_type = true;
    }
    return 0;
}

static int
pco_cli_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                size_t len, void *user)
{
    pco_test_stream_t  *t = pco_test_rec(id);
    size_t              i;

    (void) ng;
    (void) flags;
    (void) user;
    for (i = 0; i < len; i++) {
        if (data[i] != pco_test_byte(t->got + i)) {
            t->got_ok = false;
        }
    }
    t->got += len;
    return 0;
}

static int
pco_cli_on_frame(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    (void) ng;
    (void) user;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        pco_goaway_code = (int) frame->goaway.error_code;
        pco_goaway_last = frame->goaway.last_stream_id;
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
        pco_test_rec(frame->hd.stream_id)->rst_code = (int) frame->rst_stream.error_code;
    }
    return 0;
}

static int
pco_cli_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    pco_test_stream_t  *t = pco_test_rec(id);

    (void) ng;
    (void) user;
    t->client_closed++;
    t->client_code = code;
    return 0;
}

static ssize_t
pco_cli_read_post(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                  uint32_t *flags, nghttp2_data_source *src, void *user)
{
    pco_test_stream_t  *t = pco_test_rec(id);
    size_t              n, i;

    (void) ng;
    (void) src;
    (void) user;
    n = pco_min(length, t->post_len - t->post_sent);
    for (i = 0; i < n; i++) {
        buf[i] = pco_test_byte(t->post_sent + i);
    }
    t->post_sent += n;
    if (t->post_sent == t->post_len) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t) n;
}

static void
pco_test_start(const pco_http2_settings_t *conf)
{
    nghttp2_session_callbacks  *cb;
    unsigned                    i;

    memset(pco_ts, 0, sizeof(pco_ts));
    for (i = 0; i < NSTREAMS; i++) {
        pco_ts[i].rst_code = -1;
        pco_ts[i].got_ok = true;
    }
    pco_goaway_code = -1;
    pco_goaway_last = -1;
    pco_server_input_rc = PCO_OK;
    pco_srv = pco_http2_session_create(conf, &pco_test_handlers, NULL);
    assert_non_null(pco_srv);

    assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, pco_cli_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, pco_cli_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, pco_cli_on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, pco_cli_on_close);
    assert_int_equal(nghttp2_session_client_new(&pco_cli, cb, NULL), 0);
    nghttp2_session_callbacks_del(cb);
    assert_int_equal(nghttp2_submit_settings(pco_cli, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void
pco_test_stop(void)
{
    nghttp2_session_del(pco_cli);
    pco_cli = NULL;
    pco_http2_session_destroy(pco_srv);
    pco_srv = NULL;
}

/* Raw bytes into the server, as a client that does not play by the rules would send. */
static void
pco_test_raw(const u_char *p, size_t len)
{
    if (pco_server_input_rc == PCO_OK) {
        pco_server_input_rc = pco_http2_session_input(pco_srv, p, len);
    }
}

/* One output of the server into the client; its size. With pco_direct, a frame given where
 * it lies in the owner's buffer is read by the client before the release, as a socket write
 * would take it. */
static ssize_t
pco_test_output(u_char *buf, size_t cap)
{
    const u_char  *out = NULL;
    ssize_t        n;

    if (!pco_direct) {
        n = pco_http2_session_output(pco_srv, buf, cap);
        out = buf;
    } else {
        n = pco_http2_session_output_direct(pco_srv, buf, cap, &out);
    }
    if (n > 0) {
        assert_int_equal(nghttp2_session_mem_recv(pco_cli, out, (size_t) n), n);
    }
    if (out != buf) {
        assert_int_equal(n, PCO_HTTP2_DATA_UNIT + 9);
        pco_directs++;
        pco_http2_session_release(pco_srv);
    }
    return n;
}

/* Moves bytes both ways until neither side has anything to say (bounded). */
static void
pco_test_pump(void)
{
    u_char          buf[4096];
    const uint8_t  *data;
    ssize_t         n;
    unsigned        rounds;
    bool            moved = true;

    for (rounds = 0; moved && rounds < 100000; rounds++) {
        moved = false;
        while ((n = nghttp2_session_mem_send(pco_cli, &data)) > 0) {
            pco_test_raw(data, (size_t) n);
            moved = true;
        }
        assert_true(n >= 0);
        while ((n = pco_test_output(buf, sizeof(buf))) > 0) {
            moved = true;
        }
        assert_true(n >= 0);
    }
    assert_false(moved);
}

static int32_t
pco_test_get(const char *path, const nghttp2_nv *extra, size_t nextra)
{
    nghttp2_nv  nva[16];
    size_t      n = 0, i;

    nva[n++] = (nghttp2_nv) { (uint8_t *) ":method", (uint8_t *) "GET", 7, 3, 0 };
    nva[n++] = (nghttp2_nv) { (uint8_t *) ":scheme", (uint8_t *) "https", 7, 5, 0 };
    nva[n++] = (nghttp2_nv) { (uint8_t *) ":path", (uint8_t *) path, 5, strlen(path), 0 };
    nva[n++] = (nghttp2_nv) { (uint8_t *) ":authority", (uint8_t *) "a.example", 10, 9, 0 };
    for (i = 0; i < nextra; i++) {
        nva[n++] = extra[i];
    }
    return nghttp2_submit_request(pco_cli, NULL, nva, n, NULL, NULL);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_get_with_body(void **state)
{
    pco_http2_settings_t  conf;
    pco_test_stream_t    *t;
    int32_t               id;
    pco_http_header_t     hdr[3] = {
        { pco_string("Content-Type"), pco_string("text/plain") },
        { pco_string("Connection"), pco_string("close") },
        { { 0, NULL }, pco_string("removed") },
    };

    (void) state;
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    id = pco_test_get("/file?x=1", NULL, 0);
    assert_int_equal(id, 1);
    pco_test_pump();
    t = pco_test_rec(id);
    assert_int_equal(t->requests, 1);
    assert_int_equal(t->status, 0);
    assert_int_equal(t->ends, 1);
    assert_int_equal(t->st->head.method, PCO_HTTP_GET);
    assert_int_equal(t->st->head.path.len, 5);
    assert_memory_equal(t->st->head.request_line.data, "GET /file?x=1 HTTP/2.0", 22);
    assert_int_equal(t->st->head.host_idx, 1);

    /* 300 KiB in 64 KiB buffers: more than the client's 64 KiB window, so the body waits
     * for WINDOW_UPDATEs and for each next buffer */
    t->body = pco_big;
    t->body_len = PCO_BIG_LEN;
    t->chunk = 64 * 1024;
    assert_int_equal(pco_http2_stream_respond(t->st, 200, hdr, 3, false), PCO_OK);
    assert_int_equal(pco_http2_stream_respond(t->st, 200, hdr, 3, false), PCO_ERROR);
    pco_test_pump();                        /* head only: no buffer yet (deferred) */
    assert_memory_equal(t->status_text, "200", 3);
    assert_int_equal(t->got, 0);
    assert_int_equal(t->client_closed, 0);
    pco_test_send_more(t);
    pco_test_pump();
    assert_int_equal(t->got, PCO_BIG_LEN);
    assert_true(t->got_ok);
    assert_true(t->saw_type);
    assert_false(t->saw_connection);
    assert_int_equal(t->client_closed, 1);
    assert_int_equal(t->client_code, NGHTTP2_NO_ERROR);
    assert_int_equal(t->server_closed, 1);
    assert_int_equal(t->server_code, NGHTTP2_NO_ERROR);
    assert_int_equal(pco_http2_session_streams(pco_srv), 0);
    pco_test_stop();
}

/* Full DATA frames straight from the owner's buffer (pco_http2_session_output_direct): all
 * but the first frame of each buffer, whose headers borrow the 9 bytes before them;
 * the body arrives whole and the owner's buffer is as it was. Buffers too small for a full
 * frame are copied as before. */
static void
test_get_direct(void **state)
{
    pco_http2_settings_t  conf;
    pco_test_stream_t    *t;
    int32_t               id;
    u_char               *body;
    /* 65,500 bytes: four full frames a buffer, three of them given where they lie (the
     * first buffer's after the head too: a shorter frame realigns them on records) */
    size_t                i, chunk[2] = { 4 * PCO_HTTP2_DATA_UNIT, 4000 };
    unsigned              expect[2] = { 4 * 3, 0 };
    nghttp2_settings_entry  big = { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 30 };

    (void) state;
    body = malloc(PCO_BIG_LEN);
    assert_non_null(body);
    memcpy(body, pco_big, PCO_BIG_LEN);
    pco_direct = true;
    for (i = 0; i < 2; i++) {
        pco_directs = 0;
        pco_http2_settings_default(&conf);
        pco_test_start(&conf);
        /* large windows: frames are not cut by them */
        assert_int_equal(nghttp2_session_set_local_window_size(pco_cli, NGHTTP2_FLAG_NONE, 0,
                                                               1 << 30), 0);
        assert_int_equal(nghttp2_submit_settings(pco_cli, NGHTTP2_FLAG_NONE, &big, 1), 0);
        id = pco_test_get("/direct", NULL, 0);
        pco_test_pump();
        t = pco_test_rec(id);
        assert_int_equal(t->requests, 1);
        t->body = body;
        t->body_len = PCO_BIG_LEN;
        t->chunk = chunk[i];
        assert_int_equal(pco_http2_stream_respond(t->st, 200, NULL, 0, false), PCO_OK);
        pco_test_send_more(t);
        pco_test_pump();
        assert_int_equal(t->got, PCO_BIG_LEN);
        assert_true(t->got_ok);
        assert_int_equal(t->client_closed, 1);
        assert_int_equal(t->client_code, NGHTTP2_NO_ERROR);
        assert_memory_equal(body, pco_big, PCO_BIG_LEN);
        if (expect[i] == 0) {
            assert_int_equal(pco_directs, 0);
        } else {
            assert_true(pco_directs >= expect[i]);
        }
        pco_test_stop();
    }
    pco_direct = false;
    free(body);
}

/* An idle session gives its frame buffer's pages back (pco_http2_session_trim); the next
 * responses are framed whole all the same. */
static void
test_trim_between_requests(void **state)
{
    pco_http2_settings_t  conf;
    pco_test_stream_t    *t;
    int32_t               id;
    unsigned              i;

    (void) state;
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    pco_http2_session_trim(pco_srv);
    for (i = 0; i < 3; i++) {
        id = pco_test_get("/again", NULL, 0);
        pco_test_pump();
        t = pco_test_rec(id);
        t->body = pco_big;
        t->body_len = 40000;
        t->chunk = 40000;
        assert_int_equal(pco_http2_stream_respond(t->st, 200, NULL, 0, false), PCO_OK);
        pco_test_send_more(t);
        pco_test_pump();
        assert_int_equal(t->got, 40000);
        assert_true(t->got_ok);
        assert_int_equal(pco_http2_session_streams(pco_srv), 0);
        pco_http2_session_trim(pco_srv);
    }
    pco_test_stop();
}

static void
test_post_follows_consumption(void **state)
{
    pco_http2_settings_t  conf;
    pco_test_stream_t    *t;
    nghttp2_data_provider prd;
    nghttp2_nv            nva[5] = {
        { (uint8_t *) ":method", (uint8_t *) "POST", 7, 4, 0 },
        { (uint8_t *) ":scheme", (uint8_t *) "https", 7, 5, 0 },
        { (uint8_t *) ":path", (uint8_t *) "/up", 5, 3, 0 },
        { (uint8_t *) ":authority", (uint8_t *) "a", 10, 1, 0 },
        { (uint8_t *) "content-length", (uint8_t *) "200000", 14, 6, 0 },
    };
    int32_t               id;
    size_t                before;
    unsigned              rounds;

    (void) state;
    pco_http2_settings_default(&conf);
    conf.initial_window_size = 16384;
    conf.connection_window_size = 65535;
    pco_test_start(&conf);
    pco_test_pump();                       /* SETTINGS both ways first */
    prd.read_callback = pco_cli_read_post;
    id = nghttp2_submit_request(pco_cli, NULL, nva, 5, &prd, NULL);
    assert_int_equal(id, 1);
    t = pco_test_rec(id);
    t->post_len = 200000;
    pco_test_pump();
    assert_int_equal(t->requests, 1);
    assert_int_equal(t->st->head.content_length, 200000);
    /* nothing consumed: exactly one stream window arrived, and no more */
    assert_int_equal(t->received, 16384);
    pco_test_pump();
    assert_int_equal(t->received, 16384);
    for (rounds = 0; t->ends == 0 && rounds < 1000; rounds++) {
        before = t->received;
        assert_int_equal(pco_http2_stream_consume(t->st, t->st->unconsumed), PCO_OK);
        pco_test_pump();
        assert_true(t->received > before);
    }
    assert_int_equal(t->ends, 1);
    assert_int_equal(t->received, 200000);
    assert_true(t->body_ok);
    assert_true(t->max_unconsumed <= 16384);
    assert_int_equal(pco_http2_stream_consume(t->st, t->st->unconsumed + 1), PCO_ERROR);
    assert_int_equal(pco_http2_stream_respond(t->st, 204, NULL, 0, true), PCO_OK);
    pco_test_pump();
    assert_memory_equal(t->status_text, "204", 3);
    assert_int_equal(t->client_code, NGHTTP2_NO_ERROR);
    assert_int_equal(t->server_closed, 1);
    pco_test_stop();
}

static void
test_concurrent_streams(void **state)
{
    pco_http2_settings_t  conf;
    unsigned              i, seen, answered = 0, round;

    (void) state;
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    pco_test_pump();
    for (i = 0; i < 200; i++) {
        assert_int_equal(pco_test_get("/", NULL, 0), (int32_t) (2 * i + 1));
    }
    pco_test_pump();
    for (i = 0, seen = 0; i < 200; i++) {
        seen += pco_ts[i].requests;
    }
    assert_int_equal(seen, 128);           /* the client holds the rest back */
    assert_int_equal(pco_http2_session_streams(pco_srv), 128);

    for (round = 0; answered < 200 && round < 10; round++) {
        for (i = 0; i < 200; i++) {
            if (pco_ts[i].requests == 1 && pco_ts[i].st != NULL && pco_ts[i].ends == 1
                && pco_ts[i].server_closed == 0 && pco_ts[i].status_text[0] == '\0'
                && !pco_ts[i].saw_type)
            {
                pco_ts[i].saw_type = true;  /* marks "answered" */
                assert_int_equal(pco_http2_stream_respond(pco_ts[i].st, 200, NULL, 0, true),
                                 PCO_OK);
                answered++;
            }
        }
        pco_test_pump();
        assert_true(pco_http2_session_streams(pco_srv) <= 128);
    }
    assert_int_equal(answered, 200);
    for (i = 0; i < 200; i++) {
        assert_int_equal(pco_ts[i].client_closed, 1);
        assert_int_equal(pco_ts[i].client_code, NGHTTP2_NO_ERROR);
        assert_memory_equal(pco_ts[i].status_text, "200", 3);
    }
    pco_test_stop();
}

static void
test_malformed_and_limits(void **state)
{
    pco_http2_settings_t  conf;
    int32_t               a, b, c, d, e;
    char                  big[40000];
    nghttp2_nv            host = { (uint8_t *) "host", (uint8_t *) "b.example", 4, 9, 0 };
    /* NO_COPY_NAME: the client sends the name as it is instead of lowercasing a copy */
    nghttp2_nv            upper = { (uint8_t *) "X-Up", (uint8_t *) "1", 4, 1,
                                    NGHTTP2_NV_FLAG_NO_COPY_NAME };
    nghttp2_nv            te = { (uint8_t *) "transfer-encoding", (uint8_t *) "chunked", 17, 7,
                                 0 };
    nghttp2_nv            plus = { (uint8_t *) "content-length", (uint8_t *) "+1", 14, 2,
                                     0 };
    nghttp2_nv            huge = { (uint8_t *) "x-big", (uint8_t *) big, 5, sizeof(big), 0 };

    (void) state;
    memset(big, 'a', sizeof(big));
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    pco_test_pump();
    a = pco_test_get("/", &host, 1);          /* :authority a.example, host b.example */
    b = pco_test_get("/", &upper, 1);         /* nghttp2's own check, made fatal */
    c = pco_test_get("/", &te, 1);
    d = pco_test_get("/", &huge, 1);          /* over max_header_list_size */
    e = pco_test_get("/", &plus, 1);          /* content-length: +1 */
    pco_test_pump();
    assert_int_equal(pco_test_rec(a)->rst_code, NGHTTP2_PROTOCOL_ERROR);
    assert_int_equal(pco_test_rec(b)->rst_code, NGHTTP2_PROTOCOL_ERROR);
    assert_int_equal(pco_test_rec(c)->rst_code, NGHTTP2_PROTOCOL_ERROR);
    assert_int_equal(pco_test_rec(a)->requests, 0);    /* never reached the owner */
    assert_int_equal(pco_test_rec(b)->requests, 0);
    assert_int_equal(pco_test_rec(c)->requests, 0);
    assert_int_equal(pco_test_rec(e)->rst_code, NGHTTP2_PROTOCOL_ERROR);
    assert_int_equal(pco_test_rec(e)->requests, 0);
    assert_int_equal(pco_test_rec(a)->server_closed, 0);
    assert_int_equal(pco_test_rec(d)->requests, 1);
    assert_int_equal(pco_test_rec(d)->status, 431);
    assert_int_equal(pco_test_rec(d)->rst_code, -1);
    assert_int_equal(pco_http2_session_streams(pco_srv), 1);
    assert_null(pco_http2_session_close_reason(pco_srv));
    assert_int_equal(pco_goaway_code, -1);             /* the connection lives on */

    /* graceful stop: GOAWAY NO_ERROR naming the last stream; it finishes, then done */
    assert_int_equal(pco_http2_session_shutdown(pco_srv), PCO_OK);
    pco_test_pump();
    assert_int_equal(pco_goaway_code, NGHTTP2_NO_ERROR);
    assert_int_equal(pco_goaway_last, e);
    assert_false(pco_http2_session_done(pco_srv));
    assert_int_equal(pco_http2_stream_respond(pco_test_rec(d)->st, 431, NULL, 0, true),
                     PCO_OK);
    pco_test_pump();
    assert_memory_equal(pco_test_rec(d)->status_text, "431", 3);
    assert_true(pco_http2_session_done(pco_srv));
    pco_test_stop();
}

static void
test_rapid_reset(void **state)
{
    pco_http2_settings_t  conf;
    int32_t               id;
    unsigned              i;

    (void) state;
    pco_http2_settings_default(&conf);
    conf.rapid_reset_limit = 10;
    pco_test_start(&conf);
    pco_current_msec = 1000000;
    pco_test_pump();
    /* ten cancelled streams within the window: tolerated */
    for (i = 0; i < 10; i++) {
        id = pco_test_get("/", NULL, 0);
        pco_test_pump();
        assert_int_equal(nghttp2_submit_rst_stream(pco_cli, 0, id, NGHTTP2_CANCEL), 0);
        pco_test_pump();
    }
    assert_int_equal(pco_goaway_code, -1);
    assert_int_equal(pco_test_rec(id)->server_closed, 1);
    assert_int_equal(pco_test_rec(id)->server_code, NGHTTP2_CANCEL);
    /* a new window forgets them; then eleven in one window end the session */
    pco_current_msec += conf.flood_window;
    for (i = 0; i < 11 && pco_goaway_code == -1; i++) {
        id = pco_test_get("/", NULL, 0);
        pco_test_pump();
        assert_int_equal(nghttp2_submit_rst_stream(pco_cli, 0, id, NGHTTP2_CANCEL), 0);
        pco_test_pump();
    }
    assert_int_equal(i, 11);
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert_int_equal(pco_server_input_rc, PCO_ERROR);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "rapid reset");
    assert_true(pco_http2_session_done(pco_srv));
    pco_test_stop();
}

/* Streams nghttp2 resets for the client's error once their request had started count
 * toward the rapid reset limit (CVE-2025-8671); streams the owner resets do not. */
static void
test_server_resets(void **state)
{
    pco_http2_settings_t   conf;
    nghttp2_data_provider  prd;
    nghttp2_nv             nva[5];
    int32_t                id = 0;
    unsigned               i;

    (void) state;
    pco_http2_settings_default(&conf);
    conf.rapid_reset_limit = 10;
    pco_test_start(&conf);
    pco_current_msec = 1000000;
    pco_test_pump();
    /* twenty reset by the owner (an upstream failed, a timeout...): its own business */
    for (i = 0; i < 20; i++) {
        id = pco_test_get("/", NULL, 0);
        pco_test_pump();
        assert_non_null(pco_test_rec(id)->st);
        assert_int_equal(pco_http2_stream_reset(pco_test_rec(id)->st, NGHTTP2_INTERNAL_ERROR),
                         PCO_OK);
        pco_test_pump();
        assert_int_equal(pco_test_rec(id)->rst_code, NGHTTP2_INTERNAL_ERROR);
    }
    assert_int_equal(pco_goaway_code, -1);
    /* POSTs with content-length 1 and 2 bytes of DATA: the eleventh ends the session */
    nva[0] = (nghttp2_nv) { (uint8_t *) ":method", (uint8_t *) "POST", 7, 4, 0 };
    nva[1] = (nghttp2_nv) { (uint8_t *) ":scheme", (uint8_t *) "https", 7, 5, 0 };
    nva[2] = (nghttp2_nv) { (uint8_t *) ":path", (uint8_t *) "/", 5, 1, 0 };
    nva[3] = (nghttp2_nv) { (uint8_t *) ":authority", (uint8_t *) "a.example", 10, 9, 0 };
    nva[4] = (nghttp2_nv) { (uint8_t *) "content-length", (uint8_t *) "1", 14, 1, 0 };
    prd.source.ptr = NULL;
    prd.read_callback = pco_cli_read_post;
    for (i = 0; i < 11 && pco_goaway_code == -1; i++) {
        id = nghttp2_submit_request(pco_cli, NULL, nva, 5, &prd, NULL);
        assert_true(id > 0);
        pco_test_rec(id)->post_len = 2;
        pco_test_pump();
        assert_int_equal(pco_test_rec(id)->requests, 1);
        assert_int_equal(pco_test_rec(id)->server_code, NGHTTP2_PROTOCOL_ERROR);
    }
    assert_int_equal(i, 11);
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert_int_equal(pco_goaway_last, id);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "rapid reset");
    assert_true(pco_http2_session_done(pco_srv));
    pco_test_stop();
}

/* A frame header: length, type, flags, stream id. */
static size_t
pco_test_frame(u_char *p, size_t len, uint8_t type, uint8_t flags, uint32_t id)
{
    p[0] = (u_char) (len >> 16);
    p[1] = (u_char) (len >> 8);
    p[2] = (u_char) len;
    p[3] = type;
    p[4] = flags;
    p[5] = (u_char) (id >> 24);
    p[6] = (u_char) (id >> 16);
    p[7] = (u_char) (id >> 8);
    p[8] = (u_char) id;
    return 9;
}

static void
test_continuation_flood(void **state)
{
    pco_http2_settings_t  conf;
    u_char                frame[64];
    u_char                block[] = { 0x82, 0x87, 0x84 };     /* GET, https, / (static) */
    unsigned              i;

    (void) state;
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    pco_test_pump();
    /* HEADERS without END_HEADERS, then CONTINUATIONs carrying one literal field each:
     * "x: y" literal without indexing, new name */
    pco_test_raw(frame, pco_test_frame(frame, 3, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM,
                                       1));
    pco_test_raw(block, 3);
    for (i = 0; i < conf.max_continuations; i++) {
        u_char field[] = { 0x00, 0x01, 'x', 0x01, 'y' };

        pco_test_raw(frame, pco_test_frame(frame, 5, NGHTTP2_CONTINUATION, 0, 1));
        pco_test_raw(field, 5);
    }
    assert_int_equal(pco_server_input_rc, PCO_OK);        /* the bound itself is fine */
    pco_test_raw(frame, pco_test_frame(frame, 5, NGHTTP2_CONTINUATION, 0, 1));
    assert_int_equal(pco_server_input_rc, PCO_ERROR);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "CONTINUATION flood");
    pco_test_pump();
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert_int_equal(pco_test_rec(1)->requests, 0);
    pco_test_stop();

    /* the byte bound: one CONTINUATION past max_header_block */
    conf.max_header_block = 1000;
    pco_test_start(&conf);
    pco_test_pump();
    pco_test_raw(frame, pco_test_frame(frame, 3, NGHTTP2_HEADERS, 0, 1));
    pco_test_raw(block, 3);
    pco_test_raw(frame, pco_test_frame(frame, 998, NGHTTP2_CONTINUATION, 0, 1));
    assert_int_equal(pco_server_input_rc, PCO_ERROR);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "CONTINUATION flood");
    pco_test_pump();
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    pco_test_stop();
}

static void
test_ping_flood(void **state)
{
    pco_http2_settings_t  conf;
    unsigned              i;

    (void) state;
    pco_http2_settings_default(&conf);
    conf.max_control_frames = 50;
    pco_current_msec = 5000000;
    pco_test_start(&conf);
    pco_test_pump();                     /* the client's SETTINGS counts as one */
    for (i = 0; i < 48; i++) {
        assert_int_equal(nghttp2_submit_ping(pco_cli, 0, NULL), 0);
        pco_test_pump();                 /* every ACK read: nghttp2's own bound is quiet */
    }
    assert_int_equal(pco_goaway_code, -1);
    assert_int_equal(nghttp2_submit_ping(pco_cli, 0, NULL), 0);
    assert_int_equal(nghttp2_submit_ping(pco_cli, 0, NULL), 0);
    pco_test_pump();
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "control frame flood");
    pco_test_stop();
}

static void
test_window_update_flood(void **state)
{
    pco_http2_settings_t  conf;
    unsigned              i;

    (void) state;
    pco_http2_settings_default(&conf);
    conf.max_control_frames = 50;
    pco_test_start(&conf);
    pco_test_pump();
    for (i = 0; i < 50; i++) {
        assert_int_equal(nghttp2_submit_window_update(pco_cli, NGHTTP2_FLAG_NONE, 0, 1), 0);
    }
    pco_test_pump();
    assert_int_equal(pco_goaway_code, -1);
    assert_int_equal(nghttp2_submit_window_update(pco_cli, NGHTTP2_FLAG_NONE, 0, 1), 0);
    pco_test_pump();
    assert_int_equal(pco_goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
    assert_string_equal(pco_http2_session_close_reason(pco_srv), "WINDOW_UPDATE flood");
    pco_test_stop();
}

static void
test_destroy_with_open_streams(void **state)
{
    pco_http2_settings_t  conf;
    pco_http2_session_t  *srv;

    (void) state;
    pco_http2_settings_default(&conf);
    pco_test_start(&conf);
    assert_int_equal(pco_test_get("/", NULL, 0), 1);
    assert_int_equal(pco_test_get("/", NULL, 0), 3);
    pco_test_pump();
    assert_int_equal(pco_http2_session_streams(pco_srv), 2);
    srv = pco_srv;
    pco_srv = NULL;
    pco_http2_session_destroy(srv);
    assert_int_equal(pco_test_rec(1)->server_closed, 1);
    assert_int_equal(pco_test_rec(1)->server_code, NGHTTP2_CANCEL);
    assert_int_equal(pco_test_rec(3)->server_closed, 1);
    nghttp2_session_del(pco_cli);
    pco_cli = NULL;
}

static int
pco_test_setup(void **state)
{
    size_t  i;

    (void) state;
    pco_big = malloc(PCO_BIG_LEN);
    assert_non_null(pco_big);
    for (i = 0; i < PCO_BIG_LEN; i++) {
        pco_big[i] = pco_test_byte(i);
    }
    return 0;
}

static int
pco_test_teardown(void **state)
{
    (void) state;
    free(pco_big);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_with_body),
        cmocka_unit_test(test_get_direct),
        cmocka_unit_test(test_post_follows_consumption),
        cmocka_unit_test(test_concurrent_streams),
        cmocka_unit_test(test_malformed_and_limits),
        cmocka_unit_test(test_rapid_reset),
        cmocka_unit_test(test_server_resets),
        cmocka_unit_test(test_continuation_flood),
        cmocka_unit_test(test_trim_between_requests),
        cmocka_unit_test(test_window_update_flood),
        cmocka_unit_test(test_ping_flood),
        cmocka_unit_test(test_destroy_with_open_streams),
    };

    return cmocka_run_group_tests(tests, pco_test_setup, pco_test_teardown);
}

#else

static void
pco_test_skip(void **state)
{
    (void) state;
    skip();   /* built without the http2 module */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pco_test_skip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
