/*
 * fuzz_http2_session.c: libFuzzer target for the HTTP/2 server session
 * (modules/http2/pco_http2_session.c) and the head validation under it. The input is what a
 * client sends after its connection preface, fed in pieces whose sizes come from the input
 * itself; the owner answers every request at once with a small body and consumes request
 * bodies as they arrive, so responses, window updates and resets all run. Between pieces
 * the output is drained into a small buffer, with and without large frames given where
 * they lie. Invariants: input answers PCO_OK or PCO_ERROR, output is never negative, a
 * frame given where it lies is inside the body, which is as it was after the release, and
 * nothing leaks (LeakSanitizer).
 */
#include <stdlib.h>
#include <string.h>
#include "pco_core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef PCO_HAVE_HTTP2

#include <nghttp2/nghttp2.h>
#include "pco_http2_session.h"

/* writable: large frames are written from it, their headers over the bytes before them
 * until the release, which must leave it all zeros again */
static u_char  pco_fuzz_body[40000];
static u_char  pco_fuzz_zeros[sizeof(pco_fuzz_body)];

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

static int
pco_fuzz_on_request(pco_http2_stream_t *st, int status)
{
    pco_http_header_t  h = { pco_string("Content-Type"), pco_string("text/plain") };

    if (status != 0 || (st->head.method & PCO_HTTP_HEAD)) {
        return pco_http2_stream_respond(st, status ? (unsigned) status : 200, &h, 1, true);
    }
    if (pco_http2_stream_respond(st, 200, &h, 1, false) != PCO_OK) {
        return PCO_ERROR;
    }
    /* by stream: the whole body at once, or an empty first buffer the drain handler
     * follows with the rest (stream ids are odd: look at the bits above the lowest) */
    return pco_http2_stream_write(st, pco_fuzz_body,
                                  (st->id >> 1) % 2 ? sizeof(pco_fuzz_body) : 0,
                                  (st->id >> 1) % 2 == 1) == PCO_OK ? PCO_OK : PCO_ERROR;
}

static int
pco_fuzz_on_data(pco_http2_stream_t *st, const u_char *data, size_t len)
{
    (void) data;
    return pco_http2_stream_consume(st, len);
}

static void
pco_fuzz_on_end(pco_http2_stream_t *st)
{
    (void) st;
}

/* The second buffer ends the body of the streams whose first one did not. */
static void
pco_fuzz_on_drained(pco_http2_stream_t *st)
{
    (void) pco_http2_stream_write(st, pco_fuzz_body, sizeof(pco_fuzz_body), true);
}

static void
pco_fuzz_on_close(pco_http2_stream_t *st, uint32_t code)
{
    (void) st;
    (void) code;
}

static const pco_http2_handlers_t  pco_fuzz_handlers = {
    pco_fuzz_on_request, pco_fuzz_on_data, pco_fuzz_on_end, pco_fuzz_on_drained,
    pco_fuzz_on_close
};

static void
pco_fuzz_drain(pco_http2_session_t *s, bool direct)
{
    u_char         buf[1024];
    const u_char  *out;
    ssize_t        n;
    unsigned       i;

    for (i = 0; i < 1000; i++) {
        /* by input: outputs that copy only, or that may give a frame where it lies */
        if (!direct) {
            n = pco_http2_session_output(s, buf, sizeof(buf));
        } else {
            n = pco_http2_session_output_direct(s, buf, sizeof(buf), &out);
            if (n > 0 && out != buf) {
                pco_fuzz_check(out >= pco_fuzz_body
                               && out + n <= pco_fuzz_body + sizeof(pco_fuzz_body));
                pco_http2_session_release(s);
                pco_fuzz_check(memcmp(pco_fuzz_body, pco_fuzz_zeros,
                                      sizeof(pco_fuzz_body)) == 0);
            }
        }
        pco_fuzz_check(n >= 0);
        if (n == 0) {
            break;
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_http2_settings_t  conf;
    pco_http2_session_t  *s;
    size_t                piece, n;
    int                   rc;
    bool                  direct = size % 2 == 1;     /* by input, and not by its bytes */

    pco_http2_settings_default(&conf);
    conf.max_concurrent_streams = 16;
    conf.initial_window_size = 1024;
    conf.max_header_list_size = 4096;
    conf.enable_connect_protocol = size > 0 && (data[0] & 1);
    s = pco_http2_session_create(&conf, &pco_fuzz_handlers, NULL);
    pco_fuzz_check(s != NULL);

    rc = pco_http2_session_input(s, (const u_char *) NGHTTP2_CLIENT_MAGIC,
                                 NGHTTP2_CLIENT_MAGIC_LEN);
    pco_fuzz_check(rc == PCO_OK);
    /* the pieces: the first byte says how big (1..256), so frame boundaries fall anywhere */
    piece = size > 0 ? (size_t) data[0] + 1 : 1;
    while (size > 0 && rc == PCO_OK) {
        n = pco_min(piece, size);
        rc = pco_http2_session_input(s, data, n);
        pco_fuzz_check(rc == PCO_OK || rc == PCO_ERROR);
        data += n;
        size -= n;
        pco_fuzz_drain(s, direct);
    }
    pco_fuzz_drain(s, direct);
    pco_http2_session_destroy(s);
    return 0;
}

#else

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) data;
    (void) size;
    return 0;      /* built without the http2 module */
}

#endif
