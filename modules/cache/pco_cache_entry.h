/*
 * pco_cache_entry.h: the on-disk format of a cache entry: a header, then the body bytes.
 *
 *   offset  size  field (integers big-endian; signed ones two's complement)
 *        0     4  magic "PCOC"
 *        4     2  version (1)
 *        6     2  flags (bit 0: no stale use allowed)
 *        8     4  header length: the body starts there
 *       12     2  status
 *       14     2  reserved, 0
 *       16    16  key (the variant key the file is named after)
 *       32     8  date              (-1: none)
 *       40     8  expires           (-1: none)
 *       48     8  last-modified     (-1: none)
 *       56     8  stored at (the response time)
 *       64     8  freshness lifetime (>= 0)
 *       72     8  initial age        (>= 0)
 *       80     8  stale-while-revalidate window (-1: none)
 *       88     8  stale-if-error window         (-1: none)
 *       96     8  body length
 *      104    16  lengths of: key text, ETag, Vary names, stored headers (4 bytes each)
 *      120        key text, ETag, Vary names, stored headers, nothing between them
 *
 * The stored headers are "Name: value\r\n" lines, ready to send. The parser accepts only a
 * header that the serialiser could have written: files may be truncated or corrupt, and a
 * bad one is refused, never trusted. Pure functions except the two that take an fd (they
 * block on the disk, as every file write does; nothing else here blocks or allocates).
 */
#ifndef PCO_CACHE_ENTRY_H
#define PCO_CACHE_ENTRY_H

#include "pco_core.h"
#include "pco_cache_control.h"
#include "pco_cache_key.h"

#define PCO_CACHE_ENTRY_MAGIC       "PCOC"
#define PCO_CACHE_ENTRY_VERSION     1
#define PCO_CACHE_ENTRY_FIXED       120          /* bytes before the variable part */
#define PCO_CACHE_ENTRY_HEADER_MAX  (1024 * 1024)
#define PCO_CACHE_ENTRY_BODY_LEN_AT 96           /* offset of the body length */
#define PCO_CACHE_ENTRY_NO_STALE    0x0001

typedef struct {
    pco_cache_key_t    key;
    unsigned           status;         /* 200-599 */
    time_t             date;           /* -1: none */
    time_t             expires;        /* -1: none */
    time_t             last_modified;  /* -1: none */
    pco_cache_fresh_t  fresh;          /* stored at, lifetime, age, stale windows, no_stale */
    uint64_t           body_len;
    pco_str_t          key_text;       /* the evaluated key string: no NUL */
    pco_str_t          etag;           /* no control characters; may be empty */
    pco_str_t          vary;           /* canonical names (pco_cache_vary_names); may be empty */
    pco_str_t          headers;        /* "Name: value\r\n" lines; may be empty */
    size_t             header_len;     /* set by serialise and parse: where the body starts */
} pco_cache_entry_t;

/* Bytes the header of e takes. */
size_t pco_cache_entry_header_size(const pco_cache_entry_t *e);

/* Writes the header of e into buf (size bytes) and sets e->header_len: its length, or -1
 * when it does not fit or e would not parse back (bad field or length). */
ssize_t pco_cache_entry_serialize(u_char *buf, size_t size, pco_cache_entry_t *e);

/*
 * Parses and validates a header from buf[0..len). PCO_OK: e is filled, its strings point
 * into buf. PCO_AGAIN: buf holds a valid beginning but not the whole header; e->header_len
 * is then how many bytes are needed (PCO_CACHE_ENTRY_FIXED when even those are missing).
 * PCO_ERROR: not a valid header.
 */
int pco_cache_entry_parse(pco_cache_entry_t *e, const u_char *buf, size_t len);

/* The next "Name: value\r\n" line of stored header lines at *p (before end): true with
 * name and value set (the value without its leading spaces) and *p moved past the line;
 * false at the end (or at a line the serialiser could not have written). */
bool pco_cache_entry_next_header(const u_char **p, const u_char *end, pco_str_t *name,
                                 pco_str_t *value);

/* Whether file_size matches a parsed header and its body length. */
bool pco_cache_entry_size_ok(const pco_cache_entry_t *e, uint64_t file_size);

/* Writes the whole of p to fd (retrying short writes and EINTR). PCO_OK, or PCO_ERROR with
 * errno set. */
int pco_cache_entry_write_fd(int fd, const void *p, size_t len);

/* Stores the final body length into the header at the start of fd (a header written
 * before the body's length was known). PCO_OK, or PCO_ERROR with errno set. */
int pco_cache_entry_set_body_len_fd(int fd, uint64_t body_len);

/* Moves a complete temporary file to path, creating the level folders of path under dir
 * (mode 0700) when missing. PCO_OK, or PCO_ERROR with errno set (the temporary file is
 * left for the caller to remove). */
int pco_cache_entry_commit(const char *tmp, const char *path, size_t dir_len);

#endif
