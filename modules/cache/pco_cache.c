/*
 * pco_cache.c: the response cache module's descriptor. For now the module is only its pure
 * building blocks, built and tested on their own: the caching rules
 * (pco_cache_control.c), the cache key and file path (pco_cache_key.c) and the on-disk
 * entry format (pco_cache_entry.c). It registers no setting, no hook, no shared zone and
 * no process, and is left out of default builds (`--with-cache` builds it) until the
 * settings, storage, index zone, loader, manager and the serving path exist.
 */
#include "pco_core.h"
#include "pco_module.h"

/* Hooks: none yet. */
pco_module_t pco_cache_module = {
    .api_version = PCO_MODULE_API_VERSION,
    .name = "cache",
};
