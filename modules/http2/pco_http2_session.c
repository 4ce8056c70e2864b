/*
 * pco_http2_session.c: the server side of one HTTP/2 connection over nghttp2, in memory
 * (see pco_http2_session.h for the contract and the defences).
 */
#include <nghttp2/nghttp2.h>

#include "pco_core.h"
#include "pco_pool.h"
#include "pco_time.h"
#include "pco_http.h"
#include "pco_http2_session.h"
#include "pco_http2_mem.h"

#define PCO_HTTP2_FRAME_HDLEN  9      /* a frame header (RFC 9113 §4.1) */
#define PCO_HTTP2_RECORD       16384  /* a full TLS record: a full DATA frame */

struct pco_http2_session_s {
    nghttp2_session             *ng;
    pco_http2_mem_t              mem;           /* nghttp2's allocator for this session */
    pco_http2_settings_t         conf;
    const pco_http2_handlers_t  *handlers;
    void                        *owner;
    const uint8_t               *pending;       /* mem_send bytes not yet copied out */
    size_t                       pending_len;
    /* the owner's output buffer during pco_http2_session_output: DATA frames are written
     * there directly from the owner's body buffers (NGHTTP2_DATA_FLAG_NO_COPY) */
    u_char                      *obuf;
    size_t                       obuf_len;
    size_t                       obuf_cap;
    /* a DATA frame larger than the owner's whole buffer (a caller with a small one) */
    u_char                      *spill;
    size_t                       spill_len;
    /* a DATA frame given where it lies in the owner's buffer (pco_http2_session_output_direct),
     * and the bytes its header covers there until pco_http2_session_release */
    bool                         direct_ok;
    u_char                      *direct;
    size_t                       direct_len;
    u_char                       direct_saved[PCO_HTTP2_FRAME_HDLEN];
    pco_http2_stream_t          *drained;       /* streams whose on_drained is due */
    pco_http2_stream_t          *streams;       /* every stream, for destroy */
    unsigned                     nstreams;
    const char                  *close_reason;  /* a defence ended the session */
    /* flood counters, per flood_window starting at window_start */
    pco_msec_t                   window_start;
    unsigned                     resets;
    unsigned                     control_frames;
    /* WINDOW_UPDATE frames since we last sent DATA: a client that downloads sends a few per
     * DATA frame it reads; thousands while nothing flows are a flood */
    unsigned                     window_updates;
    /* the header block being received (one at a time on a connection: RFC 9113 §6.10) */
    unsigned                     block_frames;  /* its CONTINUATION frames */
    size_t                       block_bytes;   /* the payload of its frames */
};

void
pco_http2_settings_default(pco_http2_settings_t *s)
{
    memset(s, 0, sizeof(*s));
    s->max_concurrent_streams = 128;
    s->initial_window_size = 65535;
    s->connection_window_size = 1 << 20;
    s->max_header_list_size = 32768;
    s->header_table_size = 4096;
    s->rapid_reset_limit = 200;
    s->max_control_frames = 1000;
    s->flood_window = 10000;
    s->max_continuations = 4;
    s->max_header_block = 65536;
    s->stream_pool_size = 1 << 20;
}

/* Ends the session for a defence: GOAWAY ENHANCE_YOUR_CALM with the last stream processed
 * and NGHTTP2_ERR_CALLBACK_FAILURE, so nghttp2 stops reading the rest of the input. */
static int
pco_http2_calm(pco_http2_session_t *s, const char *reason)
{
    if (s->close_reason == NULL) {
        s->close_reason = reason;
        (void) nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* Counts one event of a flood counter in the current window; true past the limit. */
static bool
pco_http2_count(pco_http2_session_t *s, unsigned *counter, unsigned limit)
{
    if (pco_current_msec - s->window_start >= s->conf.flood_window) {
        s->window_start = pco_current_msec;
        s->resets = 0;
        s->control_frames = 0;
    }
    return ++*counter > limit;
}

static pco_http2_stream_t *
pco_http2_stream_get(pco_http2_session_t *s, int32_t id)
{
    return nghttp2_session_get_stream_user_data(s->ng, id);
}

/* ---- receiving ------------------------------------------------------------------------ */

static int
pco_http2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st;
    pco_pool_t           *pool;
    unsigned              flags;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;        /* trailers: their fields go through on_header with the stream */
    }
    pool = pco_pool_create(4096, s->conf.stream_pool_size);
    st = pool != NULL ? pco_pcalloc(pool, sizeof(*st)) : NULL;
    flags = s->conf.enable_connect_protocol ? PCO_HTTP2_HEAD_CONNECT_PROTOCOL : 0;
    if (st == NULL || pco_http2_head_init(&st->hv, pool, &st->head, flags) != PCO_OK) {
        if (pool != NULL) {
            pco_pool_destroy(pool);
        }
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;    /* RST_STREAM INTERNAL_ERROR */
    }
    st->session = s;
    st->pool = pool;
    st->id = frame->hd.stream_id;
    if (nghttp2_session_set_stream_user_data(ng, st->id, st) != 0) {
        pco_pool_destroy(pool);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    st->next = s->streams;
    if (s->streams != NULL) {
        s->streams->prev = st;
    }
    s->streams = st;
    s->nstreams++;
    return 0;
}

/* Resets a stream from inside a callback; the owner hears nothing more but on_close. */
static int
pco_http2_reset_in_callback(pco_http2_session_t *s, pco_http2_stream_t *st, uint32_t code)
{
    st->reset = 1;
    return nghttp2_submit_rst_stream(s->ng, NGHTTP2_FLAG_NONE, st->id, code) == 0
           ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
}

/* One field of a request head; the trailers' fields are ignored (nothing upstream of
 * HTTP/1.1 could carry them through the engine yet). */
static int
pco_http2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = pco_http2_stream_get(s, frame->hd.stream_id);
    int                   rc;

    (void) ng;
    (void) flags;
    if (st == NULL || frame->hd.type != NGHTTP2_HEADERS
        || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    {
        return 0;
    }
    if (st->reset) {
        return 0;
    }
    /* the decoded size as SETTINGS_MAX_HEADER_LIST_SIZE counts it: past it, the fields
     * are no longer stored (HPACK bomb) and the request is answered 431 */
    st->header_bytes += nlen + vlen + 32;
    if (st->header_bytes > s->conf.max_header_list_size && st->hv.verdict == 0) {
        st->hv.verdict = 431;
        st->hv.reason = "header list too large";
    }
    if (st->reset) {
        return 0;
    }
    rc = pco_http2_head_add(&st->hv, name, nlen, value, vlen);
    if (rc == PCO_HTTP2_MALFORMED) {
        /* malformed is PROTOCOL_ERROR (a temporal failure would say INTERNAL_ERROR); the
         * rest of the block is still decoded, for the HPACK state, and ignored */
        return pco_http2_reset_in_callback(s, st, NGHTTP2_PROTOCOL_ERROR);
    }
    return 0;
}

/* A field nghttp2's own checks found invalid (it would otherwise drop it silently): the
 * request is malformed. */
static int
pco_http2_on_invalid_header(nghttp2_session *ng, const nghttp2_frame *frame,
                            const uint8_t *name, size_t nlen, const uint8_t *value,
                            size_t vlen, uint8_t flags, void *user)
{
    (void) ng;
    (void) frame;
    (void) name;
    (void) nlen;
    (void) value;
    (void) vlen;
    (void) flags;
    (void) user;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

/* Counts the frames of a header block (CONTINUATION flood) and the control frames. */
static int
pco_http2_on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *hd, void *user)
{
    pco_http2_session_t  *s = user;

    (void) ng;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        s->block_frames = 0;
        s->block_bytes = hd->length;
        break;
    case NGHTTP2_CONTINUATION:
        s->block_frames++;
        s->block_bytes += hd->length;
        if (s->block_frames > s->conf.max_continuations
            || s->block_bytes > s->conf.max_header_block)
        {
            return pco_http2_calm(s, "CONTINUATION flood");
        }
        return 0;
    case NGHTTP2_WINDOW_UPDATE:
        if (++s->window_updates > s->conf.max_control_frames) {
            return pco_http2_calm(s, "WINDOW_UPDATE flood");
        }
        return 0;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PRIORITY:
        if (!(hd->type == NGHTTP2_SETTINGS && (hd->flags & NGHTTP2_FLAG_ACK))
            && pco_http2_count(s, &s->control_frames, s->conf.max_control_frames))
        {
            return pco_http2_calm(s, "control frame flood");
        }
        return 0;
    default:
        return 0;
    }
    if (s->block_bytes > s->conf.max_header_block) {
        return pco_http2_calm(s, "CONTINUATION flood");
    }
    return 0;
}

/* The end of a request header block: validated, then handed to the owner. */
static int
pco_http2_head_done(pco_http2_session_t *s, pco_http2_stream_t *st, bool end_stream)
{
    int  status;

    status = pco_http2_head_finish(&st->hv);
    if (status == PCO_HTTP2_MALFORMED) {
        return pco_http2_reset_in_callback(s, st, NGHTTP2_PROTOCOL_ERROR);
    }
    st->delivered = 1;
    st->end_stream = end_stream;
    if (s->handlers->on_request(st, status) != PCO_OK) {
        return pco_http2_reset_in_callback(s, st, NGHTTP2_INTERNAL_ERROR);
    }
    if (end_stream && !st->reset) {
        s->handlers->on_end(st);
    }
    return 0;
}

static int
pco_http2_on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = pco_http2_stream_get(s, frame->hd.stream_id);
    bool                  end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

    (void) ng;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        /* rapid reset (CVE-2023-44487): a stream cancelled before its response is done
         * cost a request's work for nothing */
        if (st != NULL) {
            st->peer_reset = 1;
        }
        if (st != NULL && !st->complete
            && pco_http2_count(s, &s->resets, s->conf.rapid_reset_limit))
        {
            return pco_http2_calm(s, "rapid reset");
        }
        return 0;
    }
    if (st == NULL || st->reset) {
        return 0;
    }
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            return pco_http2_head_done(s, st, end);
        }
        if (end && st->delivered) {            /* trailers end the request */
            s->handlers->on_end(st);
        }
        return 0;
    case NGHTTP2_DATA:
        if (end && st->delivered) {
            s->handlers->on_end(st);
        }
        return 0;
    default:
        return 0;
    }
}

/* Request body bytes: to the owner, who consumes them as it lets them go; bytes nobody
 * will take are consumed at once so the connection window does not shrink for good. */
static int
pco_http2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                        size_t len, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = pco_http2_stream_get(s, id);

    (void) flags;
    if (st == NULL || st->reset || !st->delivered) {
        return nghttp2_session_consume(ng, id, len) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    st->unconsumed += len;
    if (s->handlers->on_data(st, data, len) != PCO_OK) {
        return pco_http2_reset_in_callback(s, st, NGHTTP2_INTERNAL_ERROR);
    }
    return 0;
}

static void
pco_http2_unlink_drained(pco_http2_session_t *s, pco_http2_stream_t *st)
{
    pco_http2_stream_t  **pp;

    for (pp = &s->drained; *pp != NULL; pp = &(*pp)->next_drained) {
        if (*pp == st) {
            *pp = st->next_drained;
            break;
        }
    }
    st->drained = 0;
}

/* Forgets a stream: the owner hears on_close (when it ever saw the stream), the window
 * space its unconsumed bytes held is returned, the pool goes. */
static void
pco_http2_stream_free(pco_http2_session_t *s, pco_http2_stream_t *st, uint32_t code)
{
    if (st->drained) {
        pco_http2_unlink_drained(s, st);
    }
    if (st->delivered) {
        s->handlers->on_close(st, code);
    }
    if (st->unconsumed > 0) {
        (void) nghttp2_session_consume_connection(s->ng, st->unconsumed);
    }
    if (st->prev != NULL) {
        st->prev->next = st->next;
    } else {
        s->streams = st->next;
    }
    if (st->next != NULL) {
        st->next->prev = st->prev;
    }
    s->nstreams--;
    pco_pool_destroy(st->pool);
}

static int
pco_http2_on_stream_close(nghttp2_session *ng, int32_t id, uint32_t code, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = pco_http2_stream_get(s, id);

    if (st == NULL) {
        return 0;
    }
    /* nghttp2 reset it for the client's error (DATA past content-length, a stream window
     * overflow...) after its request had started: as costly as a stream the client cancels
     * (CVE-2025-8671), so it counts as one. This runs while the RST_STREAM is written: the
     * GOAWAY is queued behind it, the owner sees the reason once the session is done. */
    if (code != NGHTTP2_NO_ERROR && st->delivered && !st->complete && !st->reset
        && !st->peer_reset && s->close_reason == NULL
        && pco_http2_count(s, &s->resets, s->conf.rapid_reset_limit))
    {
        (void) pco_http2_calm(s, "rapid reset");
    }
    (void) nghttp2_session_set_stream_user_data(ng, id, NULL);
    pco_http2_stream_free(s, st, code);
    return 0;
}

/* ---- sending ---------------------------------------------------------------------------- */

/* A stream whose buffer was taken whole (on_drained is due after this output). */
static void
pco_http2_buffer_taken(pco_http2_session_t *s, pco_http2_stream_t *st)
{
    st->out = NULL;
    if (!st->drained) {
        st->drained = 1;
        st->next_drained = s->drained;
        s->drained = st;
    }
}

/* The response body's data source: says how much of the owner's buffer the next DATA
 * frame carries, without copying it (NGHTTP2_DATA_FLAG_NO_COPY: pco_http2_send_data writes
 * the frame into the owner's output buffer); waits (deferred) when the owner has given
 * nothing. */
static ssize_t
pco_http2_read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                    uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = source->ptr;
    size_t                n;

    (void) ng;
    (void) id;
    (void) buf;
    if (st->reset) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    n = pco_min(length, st->out_len);
    if (n == 0 && !st->out_last) {
        if (st->out != NULL) {
            pco_http2_buffer_taken(s, st);     /* an empty buffer */
        }
        st->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == st->out_len && st->out_last) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        st->complete = 1;
    }
    return (ssize_t) n;
}

/*
 * DATA frames of 16,375 bytes of payload: with its 9-byte header a frame is then 16,384
 * bytes, one full TLS record, and four fill the owner's 64 KiB output buffer, so a large
 * body goes out in whole records and no small record (and write) is left over from a frame
 * that straddled two.
 *
 * With output_direct, a full frame goes out where it lies only when what buf holds ends on
 * a record boundary (pco_http2_send_data). A short frame before it (a HEADERS, the tail of
 * a buffer) moves that boundary for every frame after it; so when buf ends inside a record
 * with room for a frame of PCO_HTTP2_REALIGN bytes or more, this frame fills the record
 * exactly, and the full frames after it can go where they lie again.
 */
#define PCO_HTTP2_REALIGN  1024

static ssize_t
pco_http2_data_length(nghttp2_session *ng, uint8_t type, int32_t id, int32_t session_window,
                      int32_t stream_window, uint32_t max_frame, void *user)
{
    pco_http2_session_t  *s = user;
    ssize_t               n = PCO_HTTP2_DATA_UNIT;
    size_t                room;

    (void) ng;
    (void) type;
    (void) id;
    if (s->direct_ok && s->obuf != NULL && s->obuf_len % PCO_HTTP2_RECORD != 0) {
        room = PCO_HTTP2_RECORD - s->obuf_len % PCO_HTTP2_RECORD;
        if (room >= PCO_HTTP2_FRAME_HDLEN + PCO_HTTP2_REALIGN) {
            n = (ssize_t) (room - PCO_HTTP2_FRAME_HDLEN);
        }
    }
    n = pco_min(n, (ssize_t) session_window);
    n = pco_min(n, (ssize_t) stream_window);
    return pco_min(n, (ssize_t) max_frame);
}

/* Copies the bytes [off, off + n) of the frame header hd + data (length bytes) to to. */
static void
pco_http2_frame_copy(u_char *to, const uint8_t *hd, const u_char *data, size_t off, size_t n)
{
    size_t  k;

    if (off < PCO_HTTP2_FRAME_HDLEN) {
        k = pco_min(n, PCO_HTTP2_FRAME_HDLEN - off);
        memcpy(to, hd + off, k);
        to += k;
        n -= k;
        off += k;
    }
    if (n > 0) {
        memcpy(to, data + (off - PCO_HTTP2_FRAME_HDLEN), n);
    }
}

/*
 * Writes one DATA frame (its 9-byte header, then length bytes of the owner's buffer) into
 * the output buffer. A frame larger than the room left fills the room and the rest goes
 * into a buffer of the session's own (spill), copied out first by the next output, which
 * pauses here: so every output buffer leaves full, in whole TLS records, and only the
 * tail of a frame is copied twice.
 *
 * With output_direct, a full frame (PCO_HTTP2_DATA_UNIT bytes: one TLS record) that is not
 * the first of the owner's buffer is not copied at all but given where it lies, its header
 * over the 9 bytes before it (already framed); what buf holds goes out first. Only when
 * buf holds whole records (full frames, or nothing): else the frame is copied, so that the
 * small frames in buf (a HEADERS, a short DATA) are not written as a record of their own;
 * a short frame is copied too, to share a record with what follows.
 */
static int
pco_http2_send_data(nghttp2_session *ng, nghttp2_frame *frame, const uint8_t *framehd,
                    size_t length, nghttp2_data_source *source, void *user)
{
    pco_http2_session_t  *s = user;
    pco_http2_stream_t   *st = source->ptr;
    size_t                need, room;
    int                   rc = 0;

    (void) ng;
    if (st->reset || length > st->out_len || frame->data.padlen > 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* abandoned: RST_STREAM */
    }
    if (s->obuf == NULL || s->spill != NULL) {
        return NGHTTP2_ERR_WOULDBLOCK;
    }
    need = PCO_HTTP2_FRAME_HDLEN + length;
    room = s->obuf_cap - s->obuf_len;
    if (s->direct_ok && length == PCO_HTTP2_DATA_UNIT
        && (size_t) (st->out - st->out_start) >= PCO_HTTP2_FRAME_HDLEN
        && s->obuf_len % PCO_HTTP2_RECORD == 0)
    {
        if (s->obuf_len > 0) {
            return NGHTTP2_ERR_WOULDBLOCK;      /* what is in buf goes first, whole records */
        }
        /* the bytes before it are the frame before it, already written or copied */
        s->direct = (u_char *) st->out - PCO_HTTP2_FRAME_HDLEN;
        memcpy(s->direct_saved, s->direct, PCO_HTTP2_FRAME_HDLEN);
        memcpy(s->direct, framehd, PCO_HTTP2_FRAME_HDLEN);
        s->direct_len = need;
        rc = NGHTTP2_ERR_PAUSE;
    } else if (room >= need) {
        pco_http2_frame_copy(s->obuf + s->obuf_len, framehd, st->out, 0, need);
        s->obuf_len += need;
    } else {
        s->spill = malloc(need - room);
        if (s->spill == NULL) {
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        pco_http2_frame_copy(s->obuf + s->obuf_len, framehd, st->out, 0, room);
        pco_http2_frame_copy(s->spill, framehd, st->out, room, need - room);
        s->obuf_len += room;
        s->spill_len = need - room;
        rc = NGHTTP2_ERR_PAUSE;
    }
    st->out += length;
    st->out_len -= length;
    s->window_updates = 0;
    if (st->out_len == 0 && st->out != NULL) {
        pco_http2_buffer_taken(s, st);
    }
    return rc;
}

int
pco_http2_stream_respond(pco_http2_stream_t *st, unsigned status,
                         const pco_http_header_t *headers, unsigned n, bool end)
{
    static const pco_str_t    hop[] = {
        pco_string("connection"), pco_string("keep-alive"), pco_string("proxy-connection"),
        pco_string("transfer-encoding"), pco_string("upgrade"), pco_null_string
    };
    nghttp2_data_provider     prd, *dp = NULL;
    nghttp2_nv               *nva;
    u_char                   *code, *name;
    unsigned                  i, k, nv = 0;
    size_t                    j;

    if (st->responded || st->reset || status < 100 || status > 999) {
        return PCO_ERROR;
    }
    nva = pco_palloc(st->pool, (n + 1) * sizeof(nghttp2_nv));
    code = pco_pnalloc(st->pool, 3);
    if (nva == NULL || code == NULL) {
        return PCO_ERROR;
    }
    code[0] = (u_char) ('0' + status / 100);
    code[1] = (u_char) ('0' + status / 10 % 10);
    code[2] = (u_char) ('0' + status % 10);
    nva[nv++] = (nghttp2_nv) { (uint8_t *) ":status", code, 7, 3, NGHTTP2_NV_FLAG_NONE };

    for (i = 0; i < n; i++) {
        const pco_http_header_t *h = &headers[i];

        if (h->name.len == 0) {
            continue;
        }
        name = pco_pnalloc(st->pool, h->name.len);
        if (name == NULL) {
            return PCO_ERROR;
        }
        for (j = 0; j < h->name.len; j++) {      /* HTTP/2 field names are lowercase */
            u_char c = h->name.data[j];
            name[j] = (c >= 'A' && c <= 'Z') ? (u_char) (c | 0x20) : c;
        }
        for (k = 0; hop[k].len != 0; k++) {
            if (h->name.len == hop[k].len && memcmp(name, hop[k].data, h->name.len) == 0) {
                break;
            }
        }
        if (hop[k].len != 0) {
            continue;              /* connection-specific: meaningless in HTTP/2 */
        }
        /* a value that is new in every response (the request id) would only push the
         * ones that repeat (server, content-type...) out of the HPACK table */
        nva[nv++] = (nghttp2_nv) { name, h->value.data, h->name.len, h->value.len,
                                   h->name.len == 12 && memcmp(name, "x-request-id", 12) == 0
                                   ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE };
    }
    if (!end) {
        prd.source.ptr = st;
        prd.read_callback = pco_http2_read_body;
        dp = &prd;
    }
    if (nghttp2_submit_response(st->session->ng, st->id, nva, nv, dp) != 0) {
        return PCO_ERROR;
    }
    st->responded = 1;
    st->complete = end;
    return PCO_OK;
}

int
pco_http2_stream_write(pco_http2_stream_t *st, const u_char *data, size_t len, bool last)
{
    if (!st->responded || st->complete || st->reset || st->out_last) {
        return PCO_ERROR;
    }
    if (st->out != NULL) {
        return PCO_AGAIN;
    }
    st->out = data != NULL ? data : (const u_char *) "";
    st->out_start = st->out;
    st->out_len = len;
    st->out_last = last;
    if (st->deferred) {
        st->deferred = 0;
        if (nghttp2_session_resume_data(st->session->ng, st->id) != 0) {
            return PCO_ERROR;
        }
    }
    return PCO_OK;
}

int
pco_http2_stream_consume(pco_http2_stream_t *st, size_t len)
{
    if (len > st->unconsumed) {
        return PCO_ERROR;
    }
    st->unconsumed -= len;
    return nghttp2_session_consume(st->session->ng, st->id, len) == 0 ? PCO_OK : PCO_ERROR;
}

int
pco_http2_stream_reset(pco_http2_stream_t *st, uint32_t error_code)
{
    st->reset = 1;
    st->out = NULL;            /* the owner may free its buffer now */
    st->out_len = 0;
    return nghttp2_submit_rst_stream(st->session->ng, NGHTTP2_FLAG_NONE, st->id, error_code)
           == 0 ? PCO_OK : PCO_ERROR;
}

/* ---- the session -------------------------------------------------------------------------- */

static int
pco_http2_session_setup(pco_http2_session_t *s)
{
    nghttp2_session_callbacks  *cb;
    nghttp2_option             *opt;
    nghttp2_settings_entry      iv[6];
    size_t                      n = 0;
    int                         rc;

    if (nghttp2_session_callbacks_new(&cb) != 0) {
        return PCO_ERROR;
    }
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, pco_http2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, pco_http2_on_header);
    nghttp2_session_callbacks_set_on_invalid_header_callback(cb, pco_http2_on_invalid_header);
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, pco_http2_on_begin_frame);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, pco_http2_on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, pco_http2_on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, pco_http2_on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(cb, pco_http2_send_data);
    nghttp2_session_callbacks_set_data_source_read_length_callback(cb, pco_http2_data_length);
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        return PCO_ERROR;
    }
    /* windows open only as the owner consumes; no priority tree of closed streams */
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_no_closed_streams(opt, 1);
    nghttp2_option_set_max_outbound_ack(opt, 100);
    /* response fields are sent without indexing (as nginx and HAProxy do): otherwise every
     * connection keeps up to 4 KiB of them, and their allocations, for its whole life, to
     * save a few bytes per response */
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 0);
    pco_http2_mem_init(&s->mem);
    s->mem.creating = 1;
    rc = nghttp2_session_server_new3(&s->ng, cb, s, opt, &s->mem.mem);
    s->mem.creating = 0;
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        s->ng = NULL;
        return PCO_ERROR;
    }

    iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
                                         s->conf.max_concurrent_streams };
    iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
                                         s->conf.initial_window_size };
    iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
                                         s->conf.max_header_list_size };
    iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_HEADER_TABLE_SIZE,
                                         s->conf.header_table_size };
    iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1 };
    if (s->conf.enable_connect_protocol) {
        iv[n++] = (nghttp2_settings_entry) { NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 };
    }
    if (nghttp2_submit_settings(s->ng, NGHTTP2_FLAG_NONE, iv, n) != 0) {
        return PCO_ERROR;
    }
    if (s->conf.connection_window_size > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE
        && nghttp2_session_set_local_window_size(s->ng, NGHTTP2_FLAG_NONE, 0,
                                                 (int32_t) s->conf.connection_window_size)
           != 0)
    {
        return PCO_ERROR;
    }
    return PCO_OK;
}

pco_http2_session_t *
pco_http2_session_create(const pco_http2_settings_t *settings,
                         const pco_http2_handlers_t *handlers, void *owner)
{
    pco_http2_session_t  *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->conf = *settings;
    s->handlers = handlers;
    s->owner = owner;
    s->window_start = pco_current_msec;
    if (pco_http2_session_setup(s) != PCO_OK) {
        pco_http2_session_destroy(s);
        return NULL;
    }
    return s;
}

void
pco_http2_session_destroy(pco_http2_session_t *s)
{
    while (s->streams != NULL) {
        pco_http2_stream_t *st = s->streams;

        if (s->ng != NULL) {
            (void) nghttp2_session_set_stream_user_data(s->ng, st->id, NULL);
        }
        st->unconsumed = 0;                 /* the session goes: no window to return */
        pco_http2_stream_free(s, st, NGHTTP2_CANCEL);
    }
    if (s->ng != NULL) {
        nghttp2_session_del(s->ng);
    }
    free(s->spill);
    free(s);
}

void *
pco_http2_session_owner(pco_http2_session_t *s)
{
    return s->owner;
}

int
pco_http2_session_input(pco_http2_session_t *s, const u_char *data, size_t len)
{
    ssize_t  rc;

    if (s->close_reason != NULL) {
        return PCO_ERROR;
    }
    rc = nghttp2_session_mem_recv(s->ng, data, len);
    if (rc >= 0) {
        return PCO_OK;
    }
    if (s->close_reason == NULL) {
        if (rc == NGHTTP2_ERR_FLOODED) {
            /* the client does not read the ACKs it asks for */
            s->close_reason = "control frame flood";
            (void) nghttp2_session_terminate_session(s->ng, NGHTTP2_ENHANCE_YOUR_CALM);
        } else {
            (void) nghttp2_session_terminate_session(s->ng, NGHTTP2_PROTOCOL_ERROR);
        }
    }
    return PCO_ERROR;
}

static void
pco_http2_run_drained(pco_http2_session_t *s)
{
    pco_http2_stream_t  *st;

    while (s->drained != NULL) {
        st = s->drained;
        s->drained = st->next_drained;
        st->drained = 0;
        if (!st->reset) {
            s->handlers->on_drained(st);
        }
    }
}

/* Puts back the bytes the header of a frame given where it lay covered. */
static void
pco_http2_direct_restore(pco_http2_session_t *s)
{
    if (s->direct != NULL) {
        memcpy(s->direct, s->direct_saved, PCO_HTTP2_FRAME_HDLEN);
        s->direct = NULL;
        s->direct_len = 0;
    }
}

static ssize_t
pco_http2_output(pco_http2_session_t *s, u_char *buf, size_t cap, const u_char **out)
{
    ssize_t  rc;
    size_t   n = 0, k, before;

    s->direct_ok = out != NULL;
    while (n < cap && s->direct == NULL) {
        if (s->pending_len == 0) {
            /* the previous chunk was copied out entirely: its memory may be reused now;
             * DATA frames go straight into buf (pco_http2_send_data) */
            free(s->spill);
            s->spill = NULL;
            s->obuf = buf;
            s->obuf_len = n;
            s->obuf_cap = cap;
            before = n;
            rc = nghttp2_session_mem_send(s->ng, &s->pending);
            n = s->obuf_len;
            s->obuf = NULL;
            if (rc < 0) {
                s->direct_ok = false;
                pco_http2_direct_restore(s);
                return rc;
            }
            if (rc == 0 && s->spill != NULL) {
                s->pending = s->spill;
                rc = (ssize_t) s->spill_len;
            }
            if (rc == 0) {
                if (n == before) {
                    break;         /* nothing more, or a DATA frame waits for room */
                }
                continue;
            }
            s->pending_len = (size_t) rc;
        }
        k = pco_min(cap - n, s->pending_len);
        memcpy(buf + n, s->pending, k);
        s->pending += k;
        s->pending_len -= k;
        n += k;
    }
    s->direct_ok = false;
    if (s->direct != NULL) {
        *out = s->direct;           /* alone: a frame that must wait for buf was not taken */
        return (ssize_t) s->direct_len;
    }
    if (out != NULL) {
        *out = buf;
    }
    pco_http2_run_drained(s);
    return (ssize_t) n;
}

ssize_t
pco_http2_session_output(pco_http2_session_t *s, u_char *buf, size_t cap)
{
    return pco_http2_output(s, buf, cap, NULL);
}

ssize_t
pco_http2_session_output_direct(pco_http2_session_t *s, u_char *buf, size_t cap,
                                const u_char **out)
{
    return pco_http2_output(s, buf, cap, out);
}

void
pco_http2_session_release(pco_http2_session_t *s)
{
    pco_http2_direct_restore(s);
    pco_http2_run_drained(s);
}

bool
pco_http2_session_done(pco_http2_session_t *s)
{
    return s->pending_len == 0 && !nghttp2_session_want_read(s->ng)
           && !nghttp2_session_want_write(s->ng);
}

const char *
pco_http2_session_close_reason(pco_http2_session_t *s)
{
    return s->close_reason;
}

int
pco_http2_session_shutdown(pco_http2_session_t *s)
{
    return nghttp2_submit_goaway(s->ng, NGHTTP2_FLAG_NONE,
                                 nghttp2_session_get_last_proc_stream_id(s->ng),
                                 NGHTTP2_NO_ERROR, NULL, 0) == 0 ? PCO_OK : PCO_ERROR;
}

void
pco_http2_session_trim(pco_http2_session_t *s)
{
    /* nothing being framed: the last output ended with nghttp2 having nothing to write */
    if (s->nstreams == 0 && s->pending_len == 0 && s->spill == NULL && s->direct == NULL
        && !nghttp2_session_want_write(s->ng))
    {
        pco_http2_mem_trim(&s->mem);
    }
}

unsigned
pco_http2_session_streams(pco_http2_session_t *s)
{
    return s->nstreams;
}
