/*
 * pco_http2_session.h: the server side of one HTTP/2 connection over nghttp2, driven
 * through byte buffers only (nghttp2_session_mem_recv / mem_send): the owner reads the
 * socket and hands the bytes in, and takes the bytes to write out. Nothing here touches a
 * socket, a timer or the event loop, so the whole protocol runs in a unit test against an
 * nghttp2 client in memory.
 *
 * Streams. Each client stream gets a pco_http2_stream_t with its own pool (the request's,
 * later): the header fields are validated by pco_http2_head.c as they arrive; a malformed
 * head is reset with PROTOCOL_ERROR and never reaches the owner. Then the owner hears, in
 * order: on_request (the head, or an HTTP status to answer with), on_data (request body
 * chunks), on_end (the body is complete) and always on_close, after which the stream and
 * its pool are gone.
 *
 * Flow control follows consumption: WINDOW_UPDATE is only sent for bytes the owner has
 * declared taken with pco_http2_stream_consume, so a request body never occupies more than
 * the stream window (and all streams together more than the connection window) in the
 * owner's buffers, however slow its upstream.
 *
 * Responses: pco_http2_stream_respond sends the head; the body comes from owner buffers
 * through pco_http2_stream_write, one buffer at a time, never copied but into the output
 * (pco_http2_session_output writes each DATA frame from the owner's buffer straight into
 * the buffer it fills: NGHTTP2_DATA_FLAG_NO_COPY), and large frames not even that
 * (pco_http2_session_output_direct); when the buffer has been taken, on_drained says the
 * owner may refill it. A stream with no
 * buffer pending is deferred and resumed by the next write (back-pressure both ways).
 *
 * Defences at the protocol level, each closing the connection with GOAWAY
 * ENHANCE_YOUR_CALM and a reason (pco_http2_session_close_reason): rapid reset (more than
 * rapid_reset_limit streams reset before their response was complete within flood_window,
 * by the client or by nghttp2 for the client's error once the request had started, e.g.
 * DATA past content-length: CVE-2023-44487, CVE-2025-8671), CONTINUATION flood (a header
 * block of more than max_continuations CONTINUATION frames or max_header_block bytes;
 * nghttp2 1.52 has no bound of its own),
 * control-frame flood (more than max_control_frames PING, SETTINGS and PRIORITY frames
 * within flood_window; nghttp2 also bounds queued ACKs), WINDOW_UPDATE flood (more than
 * max_control_frames WINDOW_UPDATE frames with no DATA sent in between: a client reading a
 * download sends a few per DATA frame, so no rate can catch it), and the decoded header list
 * above max_header_list_size (HPACK bomb) is answered 431 without being stored.
 */
#ifndef PCO_HTTP2_SESSION_H
#define PCO_HTTP2_SESSION_H

#include "pco_core.h"
#include "pco_pool.h"
#include "pco_http_parse.h"
#include "pco_http2_head.h"

typedef struct pco_http2_session_s  pco_http2_session_t;
typedef struct pco_http2_stream_s   pco_http2_stream_t;

typedef struct {
    uint32_t    max_concurrent_streams;   /* SETTINGS_MAX_CONCURRENT_STREAMS, 128 */
    uint32_t    initial_window_size;      /* SETTINGS_INITIAL_WINDOW_SIZE, 65535 */
    uint32_t    connection_window_size;   /* the connection's receive window, 1 MiB */
    uint32_t    max_header_list_size;     /* SETTINGS_MAX_HEADER_LIST_SIZE, 32768 */
    uint32_t    header_table_size;        /* SETTINGS_HEADER_TABLE_SIZE, 4096 */
    bool        enable_connect_protocol;  /* SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441) */
    unsigned    rapid_reset_limit;        /* client resets per flood_window, 200 */
    unsigned    max_control_frames;       /* PING/SETTINGS/PRIORITY per flood_window, 1000 */
    pco_msec_t  flood_window;             /* 10000 ms */
    unsigned    max_continuations;        /* CONTINUATION frames per header block, 4 */
    size_t      max_header_block;         /* bytes of one header block (frames), 65536 */
    size_t      stream_pool_size;         /* budget of each stream's pool, 1 MiB */
} pco_http2_settings_t;

/* Fills s with the defaults above. */
void pco_http2_settings_default(pco_http2_settings_t *s);

typedef struct {
    /* The request head is complete: st->head is filled (status 0) or the request is to be
     * answered with status (405, 417, 431, 500; the head may be partial). PCO_OK, or
     * PCO_ERROR to reset the stream with INTERNAL_ERROR. */
    int   (*on_request)(pco_http2_stream_t *st, int status);
    /* A chunk of request body, valid only during the call: the owner copies or forwards it
     * and calls pco_http2_stream_consume once it no longer holds those bytes. PCO_OK, or
     * PCO_ERROR to reset the stream. */
    int   (*on_data)(pco_http2_stream_t *st, const u_char *data, size_t len);
    /* The client ended the request (END_STREAM). */
    void  (*on_end)(pco_http2_stream_t *st);
    /* The buffer given to pco_http2_stream_write has been taken into frames. */
    void  (*on_drained)(pco_http2_stream_t *st);
    /* The stream is closed (error_code NGHTTP2_NO_ERROR when it completed); st and its pool
     * are freed right after. */
    void  (*on_close)(pco_http2_stream_t *st, uint32_t error_code);
} pco_http2_handlers_t;

struct pco_http2_stream_s {
    pco_http2_session_t  *session;
    int32_t               id;
    pco_pool_t           *pool;        /* the stream's memory, freed after on_close */
    pco_http_head_t       head;        /* the request head (see pco_http2_head.h) */
    pco_http2_head_t      hv;          /* its validation state (:scheme, :protocol...) */
    void                 *data;        /* the owner's */
    size_t                header_bytes;   /* decoded header list size so far */
    size_t                unconsumed;     /* body bytes delivered, not yet consumed */
    const u_char         *out;         /* response body buffer being sent */
    size_t                out_len;
    const u_char         *out_start;   /* where that buffer starts */
    unsigned              delivered:1;    /* on_request was called */
    unsigned              end_stream:1;   /* the head ended the request (no body) */
    unsigned              responded:1;    /* a response head was submitted */
    unsigned              out_last:1;     /* the buffer is the end of the body */
    unsigned              complete:1;     /* the whole response was framed */
    unsigned              deferred:1;     /* the data source waits for a write */
    unsigned              drained:1;      /* on_drained is due */
    unsigned              reset:1;        /* reset by us: no more handlers but on_close */
    unsigned              peer_reset:1;   /* reset by the client (RST_STREAM) */
    pco_http2_stream_t   *next_drained;
    pco_http2_stream_t   *prev, *next;    /* the session's streams */
};

/* Creates a server session and queues the first SETTINGS (sent by the first
 * pco_http2_session_output). owner is the session's user data. NULL on failure. */
pco_http2_session_t *pco_http2_session_create(const pco_http2_settings_t *settings,
                                              const pco_http2_handlers_t *handlers,
                                              void *owner);
/* Frees the session; the owner hears on_close(NGHTTP2_CANCEL) for every stream it still has. */
void pco_http2_session_destroy(pco_http2_session_t *s);
void *pco_http2_session_owner(pco_http2_session_t *s);

/*
 * Feeds bytes read from the client (starting with the client preface). Returns PCO_OK, or
 * PCO_ERROR when the connection must end: a protocol error or a defence tripped (a GOAWAY
 * is queued when nghttp2 or the defence made one: call pco_http2_session_output until it
 * returns 0, write that, then close).
 */
int pco_http2_session_input(pco_http2_session_t *s, const u_char *data, size_t len);

/*
 * Copies up to cap bytes of frames waiting to be written into buf; returns how many (0:
 * nothing to write now). Runs the on_drained handlers of streams whose buffer was taken.
 * A negative answer is a fatal nghttp2 error.
 */
ssize_t pco_http2_session_output(pco_http2_session_t *s, u_char *buf, size_t cap);

/*
 * The same, but a full DATA frame (PCO_HTTP2_DATA_UNIT bytes) that is not the first of its
 * buffer is not copied: the owner gets the frame where it lies, its 9-byte
 * header written over the last bytes of the frame before it in the owner's buffer. Then
 * *out points at the frame (and buf holds nothing), else *out is buf. The owner writes
 * what it got, or copies what it could not write, then calls pco_http2_session_release
 * (before anything else that may touch the session or that buffer): that puts the
 * overwritten bytes back and runs the on_drained handlers. So a buffer given to
 * pco_http2_stream_write must be writable memory, though its bytes come back unchanged.
 */
/* The payload of a full DATA frame: with its 9-byte header, one whole TLS record. */
#define PCO_HTTP2_DATA_UNIT   (16384 - 9)

ssize_t pco_http2_session_output_direct(pco_http2_session_t *s, u_char *buf, size_t cap,
                                        const u_char **out);
void pco_http2_session_release(pco_http2_session_t *s);

/* True when the session has nothing more to read or write: the owner closes the connection
 * once the output is written. */
bool pco_http2_session_done(pco_http2_session_t *s);

/* Why a defence ended the session ("rapid reset", "CONTINUATION flood", "control frame
 * flood", "WINDOW_UPDATE flood"), or NULL. */
const char *pco_http2_session_close_reason(pco_http2_session_t *s);

/* Graceful stop: GOAWAY NO_ERROR with the last stream id processed; the streams in flight
 * finish, new ones are refused. */
int pco_http2_session_shutdown(pco_http2_session_t *s);

/* An idle session (no stream, nothing to write) gives back the pages of its frame buffer;
 * the next frame takes them again. */
void pco_http2_session_trim(pco_http2_session_t *s);

/* Streams currently open (what max_concurrent_streams bounds). */
unsigned pco_http2_session_streams(pco_http2_session_t *s);

/* The owner no longer holds len bytes of this stream's request body: the windows reopen by
 * that much. PCO_OK / PCO_ERROR. */
int pco_http2_stream_consume(pco_http2_stream_t *st, size_t len);

/*
 * Submits the response head: status and headers (names lowercased on the way, the
 * connection-specific ones dropped, entries with an empty name skipped). end: no body
 * follows. PCO_OK / PCO_ERROR.
 */
int pco_http2_stream_respond(pco_http2_stream_t *st, unsigned status,
                             const pco_http_header_t *headers, unsigned n, bool end);

/*
 * Gives the response body buffer data[0..len) (it must stay valid until on_drained); last:
 * it ends the body. PCO_AGAIN while an earlier buffer is still pending, PCO_ERROR when no
 * response head with a body was submitted.
 */
int pco_http2_stream_write(pco_http2_stream_t *st, const u_char *data, size_t len, bool last);

/* Resets the stream (RST_STREAM error_code, e.g. NGHTTP2_INTERNAL_ERROR); a buffer given
 * to pco_http2_stream_write is no longer read. */
int pco_http2_stream_reset(pco_http2_stream_t *st, uint32_t error_code);

#endif
