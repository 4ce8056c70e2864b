/*
 * pco_cache_entry.c: serialising and parsing the header of a cache entry file (format in
 * pco_cache_entry.h), and the small file steps of storing one (write, set the body length,
 * rename into place). The parser reads files that may be truncated or corrupt: every read
 * is bounds-checked against the bytes given, and only a header the serialiser could have
 * written is accepted (the same checks run on both sides).
 */
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include "pco_cache_entry.h"

static void
pco_cache_put16(u_char *p, unsigned v)
{
    p[0] = (u_char) (v >> 8);
    p[1] = (u_char) v;
}

static void
pco_cache_put32(u_char *p, uint32_t v)
{
    pco_cache_put16(p, v >> 16);
    pco_cache_put16(p + 2, v & 0xffff);
}

static void
pco_cache_put64(u_char *p, uint64_t v)
{
    pco_cache_put32(p, (uint32_t) (v >> 32));
    pco_cache_put32(p + 4, (uint32_t) v);
}

static unsigned
pco_cache_get16(const u_char *p)
{
    return (unsigned) p[0] << 8 | p[1];
}

static uint32_t
pco_cache_get32(const u_char *p)
{
    return (uint32_t) pco_cache_get16(p) << 16 | pco_cache_get16(p + 2);
}

static uint64_t
pco_cache_get64(const u_char *p)
{
    return (uint64_t) pco_cache_get32(p) << 32 | pco_cache_get32(p + 4);
}

/* "Name: value\r\n" lines: a token, ": ", a value without control characters (HTAB
 * allowed), CRLF. */
static bool
pco_cache_headers_ok(const pco_str_t *h)
{
    const u_char  *p = h->data, *e = h->data + h->len, *n, *v;

    while (p < e) {
        n = p;
        while (p < e && pco_is_tchar(*p)) {
            p++;
        }
        if (p == n || e - p < 2 || p[0] != ':' || p[1] != ' ') {
            return false;
        }
        p += 2;
        v = p;
        while (p < e && *p != '\r') {
            p++;
        }
        if (pco_str_has_ctl(v, (size_t) (p - v)) || e - p < 2 || p[1] != '\n') {
            return false;
        }
        p += 2;
    }
    return true;
}

/* The canonical Vary list: lowercase tokens joined by single commas. */
static bool
pco_cache_vary_ok(const pco_str_t *v)
{
    size_t  i;
    bool    in_name = false;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] == ',') {
            if (!in_name) {
                return false;
            }
            in_name = false;
        } else if (pco_is_tchar(v->data[i]) && !(v->data[i] >= 'A' && v->data[i] <= 'Z')) {
            in_name = true;
        } else {
            return false;
        }
    }
    return v->len == 0 || in_name;
}

/* A time or duration: -1 (none) up to 2^40 s (35,000 years), so that sums of a few of
 * them, as the freshness arithmetic does, cannot overflow even from a forged file. */
static bool
pco_cache_entry_time_ok(int64_t t, int64_t min)
{
    return t >= min && t <= ((int64_t) 1 << 40);
}

/* The checks both the serialiser and the parser apply to the decoded fields. */
static bool
pco_cache_entry_fields_ok(const pco_cache_entry_t *e)
{
    const pco_cache_fresh_t  *f = &e->fresh;

    return e->status >= 200 && e->status <= 599
           && pco_cache_entry_time_ok(e->date, -1) && pco_cache_entry_time_ok(e->expires, -1)
           && pco_cache_entry_time_ok(e->last_modified, -1)
           && pco_cache_entry_time_ok(f->response_time, 0)
           && pco_cache_entry_time_ok(f->lifetime, 0)
           && pco_cache_entry_time_ok(f->initial_age, 0)
           && pco_cache_entry_time_ok(f->stale_while_revalidate, -1)
           && pco_cache_entry_time_ok(f->stale_if_error, -1)
           && e->body_len <= INT64_MAX
           && e->key_text.len > 0 && memchr(e->key_text.data, '\0', e->key_text.len) == NULL
           && !pco_str_has_ctl(e->etag.data, e->etag.len)
           && pco_cache_vary_ok(&e->vary) && pco_cache_headers_ok(&e->headers);
}

size_t
pco_cache_entry_header_size(const pco_cache_entry_t *e)
{
    return PCO_CACHE_ENTRY_FIXED + e->key_text.len + e->etag.len + e->vary.len
           + e->headers.len;
}

static u_char *
pco_cache_put_str(u_char *p, const pco_str_t *s)
{
    if (s->len > 0) {
        memcpy(p, s->data, s->len);
    }
    return p + s->len;
}

ssize_t
pco_cache_entry_serialize(u_char *buf, size_t size, pco_cache_entry_t *e)
{
    size_t   n;
    u_char  *p;

    /* each length alone under the cap, so their sum cannot overflow */
    if (e->key_text.len > PCO_CACHE_ENTRY_HEADER_MAX || e->etag.len > PCO_CACHE_ENTRY_HEADER_MAX
        || e->vary.len > PCO_CACHE_ENTRY_HEADER_MAX
        || e->headers.len > PCO_CACHE_ENTRY_HEADER_MAX)
    {
        return -1;
    }
    n = pco_cache_entry_header_size(e);
    if (n > PCO_CACHE_ENTRY_HEADER_MAX || n > size || !pco_cache_entry_fields_ok(e)) {
        return -1;
    }

    memcpy(buf, PCO_CACHE_ENTRY_MAGIC, 4);
    pco_cache_put16(buf + 4, PCO_CACHE_ENTRY_VERSION);
    pco_cache_put16(buf + 6, e->fresh.no_stale ? PCO_CACHE_ENTRY_NO_STALE : 0);
    pco_cache_put32(buf + 8, (uint32_t) n);
    pco_cache_put16(buf + 12, e->status);
    pco_cache_put16(buf + 14, 0);
    memcpy(buf + 16, e->key.md, PCO_CACHE_KEY_LEN);
    pco_cache_put64(buf + 32, (uint64_t) (int64_t) e->date);
    pco_cache_put64(buf + 40, (uint64_t) (int64_t) e->expires);
    pco_cache_put64(buf + 48, (uint64_t) (int64_t) e->last_modified);
    pco_cache_put64(buf + 56, (uint64_t) (int64_t) e->fresh.response_time);
    pco_cache_put64(buf + 64, (uint64_t) e->fresh.lifetime);
    pco_cache_put64(buf + 72, (uint64_t) e->fresh.initial_age);
    pco_cache_put64(buf + 80, (uint64_t) e->fresh.stale_while_revalidate);
    pco_cache_put64(buf + 88, (uint64_t) e->fresh.stale_if_error);
    pco_cache_put64(buf + PCO_CACHE_ENTRY_BODY_LEN_AT, e->body_len);
    pco_cache_put32(buf + 104, (uint32_t) e->key_text.len);
    pco_cache_put32(buf + 108, (uint32_t) e->etag.len);
    pco_cache_put32(buf + 112, (uint32_t) e->vary.len);
    pco_cache_put32(buf + 116, (uint32_t) e->headers.len);
    p = buf + PCO_CACHE_ENTRY_FIXED;
    p = pco_cache_put_str(p, &e->key_text);
    p = pco_cache_put_str(p, &e->etag);
    p = pco_cache_put_str(p, &e->vary);
    pco_cache_put_str(p, &e->headers);
    e->header_len = n;
    return (ssize_t) n;
}

/* The first bytes alone: magic, version, flags, header length. */
static int
pco_cache_entry_prefix(pco_cache_entry_t *e, const u_char *buf, size_t len)
{
    size_t  n, have = pco_min(len, (size_t) 4);

    if (memcmp(buf, PCO_CACHE_ENTRY_MAGIC, have) != 0) {
        return PCO_ERROR;
    }
    e->header_len = PCO_CACHE_ENTRY_FIXED;
    if (len >= 6 && pco_cache_get16(buf + 4) != PCO_CACHE_ENTRY_VERSION) {
        return PCO_ERROR;
    }
    if (len >= 8 && (pco_cache_get16(buf + 6) & ~PCO_CACHE_ENTRY_NO_STALE) != 0) {
        return PCO_ERROR;
    }
    if (len >= 12) {
        n = pco_cache_get32(buf + 8);
        if (n < PCO_CACHE_ENTRY_FIXED || n > PCO_CACHE_ENTRY_HEADER_MAX) {
            return PCO_ERROR;
        }
        e->header_len = n;
    }
    return len >= PCO_CACHE_ENTRY_FIXED ? PCO_OK : PCO_AGAIN;
}

static const u_char *
pco_cache_get_str(pco_str_t *s, const u_char *p, uint32_t len)
{
    s->len = len;
    s->data = (u_char *) p;
    return p + len;
}

int
pco_cache_entry_parse(pco_cache_entry_t *e, const u_char *buf, size_t len)
{
    uint64_t       sum;
    uint32_t       lk, le, lv, lh;
    const u_char  *p;
    int            rc;

    memset(e, 0, sizeof(*e));
    rc = pco_cache_entry_prefix(e, buf, len);
    if (rc != PCO_OK) {
        return rc;
    }
    lk = pco_cache_get32(buf + 104);
    le = pco_cache_get32(buf + 108);
    lv = pco_cache_get32(buf + 112);
    lh = pco_cache_get32(buf + 116);
    sum = (uint64_t) PCO_CACHE_ENTRY_FIXED + lk + le + lv + lh;
    if (sum != e->header_len || pco_cache_get16(buf + 14) != 0) {
        return PCO_ERROR;
    }
    e->status = pco_cache_get16(buf + 12);
    memcpy(e->key.md, buf + 16, PCO_CACHE_KEY_LEN);
    e->date = (time_t) (int64_t) pco_cache_get64(buf + 32);
    e->expires = (time_t) (int64_t) pco_cache_get64(buf + 40);
    e->last_modified = (time_t) (int64_t) pco_cache_get64(buf + 48);
    e->fresh.response_time = (time_t) (int64_t) pco_cache_get64(buf + 56);
    e->fresh.lifetime = (int64_t) pco_cache_get64(buf + 64);
    e->fresh.initial_age = (int64_t) pco_cache_get64(buf + 72);
    e->fresh.stale_while_revalidate = (int64_t) pco_cache_get64(buf + 80);
    e->fresh.stale_if_error = (int64_t) pco_cache_get64(buf + 88);
    e->fresh.no_stale = (pco_cache_get16(buf + 6) & PCO_CACHE_ENTRY_NO_STALE) != 0;
    e->body_len = pco_cache_get64(buf + PCO_CACHE_ENTRY_BODY_LEN_AT);
    if (len < e->header_len) {
        return PCO_AGAIN;
    }

    p = buf + PCO_CACHE_ENTRY_FIXED;
    p = pco_cache_get_str(&e->key_text, p, lk);
    p = pco_cache_get_str(&e->etag, p, le);
    p = pco_cache_get_str(&e->vary, p, lv);
    pco_cache_get_str(&e->headers, p, lh);
    if (!pco_cache_entry_fields_ok(e)) {
        return PCO_ERROR;
    }
    return PCO_OK;
}

bool
pco_cache_entry_next_header(const u_char **p, const u_char *end, pco_str_t *name,
                            pco_str_t *value)
{
    const u_char  *eol, *colon;

    if (*p >= end) {
        return false;
    }
    eol = memchr(*p, '\r', (size_t) (end - *p));
    colon = memchr(*p, ':', (size_t) (end - *p));
    if (eol == NULL || colon == NULL || colon > eol || eol + 1 >= end) {
        return false;
    }
    name->data = (u_char *) *p;
    name->len = (size_t) (colon - *p);
    value->data = (u_char *) colon + 1;
    while (value->data < eol && *value->data == ' ') {
        value->data++;
    }
    value->len = (size_t) (eol - value->data);
    *p = eol + 2;
    return true;
}

bool
pco_cache_entry_size_ok(const pco_cache_entry_t *e, uint64_t file_size)
{
    return file_size >= e->header_len && file_size - e->header_len == e->body_len;
}

int
pco_cache_entry_write_fd(int fd, const void *p, size_t len)
{
    const u_char  *b = p;
    ssize_t        n;

    while (len > 0) {
        n = write(fd, b, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return PCO_ERROR;
        }
        b += n;
        len -= (size_t) n;
    }
    return PCO_OK;
}

int
pco_cache_entry_set_body_len_fd(int fd, uint64_t body_len)
{
    u_char   b[8];
    ssize_t  n;

    pco_cache_put64(b, body_len);
    do {
        n = pwrite(fd, b, sizeof(b), PCO_CACHE_ENTRY_BODY_LEN_AT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return PCO_ERROR;
    }
    if (n != (ssize_t) sizeof(b)) {
        errno = EIO;
        return PCO_ERROR;
    }
    return PCO_OK;
}

/* Creates the folders of path after its first dir_len bytes (each "/"-ended part). */
static int
pco_cache_entry_mkdirs(const char *path, size_t dir_len)
{
    char    buf[4096];
    size_t  len = strlen(path), i;

    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return PCO_ERROR;
    }
    memcpy(buf, path, len + 1);
    for (i = dir_len + 1; i < len; i++) {
        if (buf[i] != '/') {
            continue;
        }
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            return PCO_ERROR;
        }
        buf[i] = '/';
    }
    return PCO_OK;
}

int
pco_cache_entry_commit(const char *tmp, const char *path, size_t dir_len)
{
    if (rename(tmp, path) == 0) {
        return PCO_OK;
    }
    /* the first entry under a level folder creates it */
    if (errno != ENOENT || pco_cache_entry_mkdirs(path, dir_len) != PCO_OK) {
        return PCO_ERROR;
    }
    return rename(tmp, path) == 0 ? PCO_OK : PCO_ERROR;
}
