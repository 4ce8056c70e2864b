/*
 * pco_gzip.h: the pure helpers of the gzip module (no I/O), unit-tested in
 * t/unit/test_gzip.c: whether an Accept-Encoding value allows gzip, whether a Content-Type is
 * in the configured list, and whether a Vary value already covers Accept-Encoding.
 */
#ifndef PCO_GZIP_H
#define PCO_GZIP_H

#include "pco_core.h"

/*
 * Accept-Encoding (RFC 9110 12.5.3): a comma-separated list of codings with an optional
 * ";q=VALUE". gzip is allowed when "gzip" (or its alias "x-gzip") is listed with q > 0, or,
 * when it is not listed, "*" is listed with q > 0. "identity" alone, an empty value, q=0
 * and a malformed q (read as 0: never compress on doubt) do not allow it.
 */
bool pco_gzip_accepts(const u_char *v, size_t len);

/* The media type of ct (before any ';' parameter, without blanks) equals one of types[0..n)
 * without regard to case, or one of them is "*". */
bool pco_gzip_type_match(const pco_str_t *types, size_t n, const pco_str_t *ct);

/* The Vary value lists Accept-Encoding (any case) or "*". */
bool pco_gzip_vary_covers(const u_char *v, size_t len);

#endif
