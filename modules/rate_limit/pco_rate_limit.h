/*
 * pco_rate_limit.h: the rate_limit module's descriptor. Its keyed table lives in core
 * (core/pco_limit_table.h), shared with conn_limit through that header only.
 */
#ifndef PCO_RATE_LIMIT_H
#define PCO_RATE_LIMIT_H

#include "pco_http.h"
#include "pco_limit_table.h"

extern pco_module_t pco_rate_limit_module;

#endif
