/*
 * pco_cache_key.h: the cache key and where an entry lives on disk. The key is a 128-bit
 * hash (SHA-256 truncated, by OpenSSL) of the evaluated key string (`cache.key`, e.g.
 * "$scheme$host$request_uri"); a response with Vary is stored under a variant key that
 * also hashes the normalised values of the request headers it varies on. The entry file is
 * DIR/<levels>/<32 hex digits>, the levels taken from the end of the hex name as nginx's
 * levels=1:2 does: DIR/c/29/b7f54b2df7773722d382f4809d65029c. No I/O, nothing shared
 * between processes; hashing reuses one OpenSSL digest context per process, made on first
 * use and kept for the process's life.
 */
#ifndef PCO_CACHE_KEY_H
#define PCO_CACHE_KEY_H

#include "pco_core.h"

#define PCO_CACHE_KEY_LEN     16    /* bytes of a key */
#define PCO_CACHE_KEY_HEX     32    /* hex digits of a key */
#define PCO_CACHE_LEVELS_MAX  3     /* folder levels, each 1 or 2 hex digits */

typedef struct {
    u_char   md[PCO_CACHE_KEY_LEN];
} pco_cache_key_t;

/* A request header as the variant computation sees it. */
typedef struct {
    pco_str_t   name;
    pco_str_t   value;
} pco_cache_header_t;

/* The key of the evaluated key string. PCO_OK, or PCO_ERROR when OpenSSL fails. */
int pco_cache_key_hash(pco_cache_key_t *key, const pco_str_t *text);

/*
 * The variant key: the key string, then for each name of vary_names (the canonical list
 * pco_cache_vary_names made) the values of every request header of that name (ignoring
 * case) in order, combined and normalised as pco_cache_vary_normalize does. An absent
 * header differs from an empty one. With no names it equals pco_cache_key_hash.
 * PCO_OK, or PCO_ERROR when OpenSSL fails.
 */
int pco_cache_key_variant(pco_cache_key_t *key, const pco_str_t *text,
                          const pco_str_t *vary_names, const pco_cache_header_t *headers,
                          size_t n);

/*
 * The canonical Vary name list from the response's Vary values (n lines): names lowercased,
 * duplicates dropped, sorted, joined with ",": "accept-encoding,accept-language". Into out
 * (size bytes); its length, or -1 when a name is "*" or not a token, or out is too small.
 */
ssize_t pco_cache_vary_names(u_char *out, size_t size, const pco_str_t *values, size_t n);

/*
 * Normalises one header value: list elements trimmed, whitespace inside each collapsed to
 * one space, empty elements dropped, joined with ",". "gzip ,  deflate,, br" and
 * "gzip,deflate,br" are equal; letters are lowercased ("EN" and "en" are one variant: the
 * Accept-* values a response varies on ignore case). Writes at most
 * len bytes to out (which must hold len bytes) and returns the length written.
 */
size_t pco_cache_vary_normalize(u_char *out, const u_char *p, size_t len);

/* The 32 lowercase hex digits of key into out (no NUL). */
void pco_cache_key_hex(u_char *out, const pco_cache_key_t *key);
/* Parses 32 hex digits (either case); false when p is not exactly that. */
bool pco_cache_key_from_hex(pco_cache_key_t *key, const u_char *p, size_t len);

/* Checks levels (1 to PCO_CACHE_LEVELS_MAX entries, each 1 or 2). */
bool pco_cache_levels_valid(const unsigned *levels, size_t n);

/*
 * The entry's path: dir "/" one folder per level "/" the hex name, as a NUL-terminated
 * string in out (size bytes). Its length without the NUL, or -1 when it does not fit or the
 * levels are not valid. A trailing "/" on dir is not doubled.
 */
ssize_t pco_cache_key_path(char *out, size_t size, const pco_str_t *dir, const unsigned *levels,
                           size_t n, const pco_cache_key_t *key);

#endif
