/*
 * pco_http_parse_chunked.c: the incremental chunked-body decoder (RFC 9112 §7.1, docs/http.md):
 * a byte-at-a-time state machine over chunk-size lines, extensions, the CRLF after data and
 * the trailer section, resumable at any split of the input. Chunk data itself is not copied:
 * the caller takes it from the buffer while ctx->left says how much belongs to the chunk.
 */
#include "pco_http_parse.h"

enum {
    PCO_HTTP_CH_SIZE_START = 0,   /* first hex digit of a chunk size */
    PCO_HTTP_CH_SIZE,             /* more hex digits */
    PCO_HTTP_CH_SIZE_WS,          /* BWS after the size, before ';' */
    PCO_HTTP_CH_EXT,              /* chunk extension bytes up to CR */
    PCO_HTTP_CH_SIZE_LF,          /* LF ending the size line */
    PCO_HTTP_CH_DATA,             /* chunk data (left bytes) */
    PCO_HTTP_CH_DATA_CR,          /* CR after data */
    PCO_HTTP_CH_DATA_LF,          /* LF after data */
    PCO_HTTP_CH_TRAILER_START,    /* start of a trailer line or the final CRLF */
    PCO_HTTP_CH_TRAILER_NAME,     /* trailer field name */
    PCO_HTTP_CH_TRAILER_VALUE,    /* trailer field value up to CR */
    PCO_HTTP_CH_TRAILER_LF,       /* LF ending a trailer line */
    PCO_HTTP_CH_FINAL_LF,         /* LF ending the message */
    PCO_HTTP_CH_DONE
};

static int
pco_http_chunked_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Extension and trailer value bytes: HTAB, SP, VCHAR, obs-text. */
static bool
pco_http_chunked_vchar(u_char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
pco_http_chunked_fail(pco_http_chunked_t *ctx, u_char **pos, u_char *p, int status)
{
    ctx->status = status;
    *pos = p;
    return PCO_ERROR;
}

int
pco_http_parse_chunked(pco_http_chunked_t *ctx, u_char **pos, u_char *last)
{
    u_char  *p, c;
    int     d;

    p = *pos;
    if (ctx->state == PCO_HTTP_CH_DONE) {
        return PCO_DONE;
    }
    for ( ;; ) {
        if (ctx->state == PCO_HTTP_CH_DATA) {
            if (ctx->left > 0) {
                *pos = p;
                return p < last ? PCO_OK : PCO_AGAIN;
            }
            ctx->state = PCO_HTTP_CH_DATA_CR;
        }
        if (p == last) {
            *pos = p;
            return PCO_AGAIN;
        }
        c = *p++;

        switch (ctx->state) {
        case PCO_HTTP_CH_SIZE_START:
        case PCO_HTTP_CH_SIZE:
            d = pco_http_chunked_hex(c);
            if (d >= 0) {
                if (++ctx->digits > 16) {
                    return pco_http_chunked_fail(ctx, pos, p, 400);
                }
                ctx->size = ctx->size << 4 | (uint64_t) d;
                ctx->state = PCO_HTTP_CH_SIZE;
                break;
            }
            if (ctx->state == PCO_HTTP_CH_SIZE_START) {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            if (c == '\r') {
                ctx->state = PCO_HTTP_CH_SIZE_LF;
            } else if (c == ';') {
                ctx->state = PCO_HTTP_CH_EXT;
                ctx->meta_bytes++;
            } else if (c == ' ' || c == '\t') {
                ctx->state = PCO_HTTP_CH_SIZE_WS;
                ctx->meta_bytes++;
            } else {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            break;

        case PCO_HTTP_CH_SIZE_WS:
            ctx->meta_bytes++;
            if (c == ';') {
                ctx->state = PCO_HTTP_CH_EXT;
            } else if (c != ' ' && c != '\t') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            break;

        case PCO_HTTP_CH_EXT:
            if (c == '\r') {
                ctx->state = PCO_HTTP_CH_SIZE_LF;
                break;
            }
            if (!pco_http_chunked_vchar(c)) {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->meta_bytes++;
            break;

        case PCO_HTTP_CH_SIZE_LF:
            if (c != '\n') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->digits = 0;
            if (ctx->size == 0) {
                ctx->state = PCO_HTTP_CH_TRAILER_START;
            } else {
                ctx->left = ctx->size;
                ctx->size = 0;
                ctx->state = PCO_HTTP_CH_DATA;
            }
            break;

        case PCO_HTTP_CH_DATA_CR:
            if (c != '\r') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->state = PCO_HTTP_CH_DATA_LF;
            break;

        case PCO_HTTP_CH_DATA_LF:
            if (c != '\n') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->state = PCO_HTTP_CH_SIZE_START;
            break;

        case PCO_HTTP_CH_TRAILER_START:
            if (c == '\r') {
                ctx->state = PCO_HTTP_CH_FINAL_LF;
                break;
            }
            if (!pco_is_tchar(c)) {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->meta_bytes++;
            ctx->state = PCO_HTTP_CH_TRAILER_NAME;
            break;

        case PCO_HTTP_CH_TRAILER_NAME:
            ctx->meta_bytes++;
            if (c == ':') {
                ctx->state = PCO_HTTP_CH_TRAILER_VALUE;
            } else if (!pco_is_tchar(c)) {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            break;

        case PCO_HTTP_CH_TRAILER_VALUE:
            if (c == '\r') {
                ctx->state = PCO_HTTP_CH_TRAILER_LF;
                break;
            }
            if (!pco_http_chunked_vchar(c)) {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->meta_bytes++;
            break;

        case PCO_HTTP_CH_TRAILER_LF:
            if (c != '\n') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->state = PCO_HTTP_CH_TRAILER_START;
            break;

        case PCO_HTTP_CH_FINAL_LF:
            if (c != '\n') {
                return pco_http_chunked_fail(ctx, pos, p, 400);
            }
            ctx->state = PCO_HTTP_CH_DONE;
            *pos = p;
            return PCO_DONE;

        default:
            return pco_http_chunked_fail(ctx, pos, p, 400);
        }

        if (ctx->meta_limit != 0 && ctx->meta_bytes > ctx->meta_limit) {
            return pco_http_chunked_fail(ctx, pos, p, 431);
        }
    }
}
