/*
 * pco_rate_limit.h: what the rate_limit module shares with the conn_limit module (which
 * keeps its keys in the same kind of table, pco_limit_table.h): the edit distance used for
 * "did you mean" hints about limit names.
 */
#ifndef PCO_RATE_LIMIT_H
#define PCO_RATE_LIMIT_H

#include "pco_http.h"
#include "pco_limit_table.h"

extern pco_module_t pco_rate_limit_module;

/* The name in names[0..n) (pco_str_t, NUL-terminated) closest to name within 2 edits, or
 * NULL. */
const char *pco_limit_suggest(const char *name, const pco_str_t *names, size_t n,
                              size_t stride);

/* A seed for a new table's hash (getrandom, else time and pid). */
uint64_t pco_limit_seed(void);

#endif
