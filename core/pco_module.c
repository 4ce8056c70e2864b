/*
 * pco_module.c: the module registry. Numbers the modules of the generated pco_modules[]
 * list (their index selects their configuration struct in every scope node and their slot
 * in cycle->module_ctx) and refuses to start when a module was built for another module
 * API version. Touches no shared state beyond the descriptors' index fields.
 */
#include "pco_core.h"
#include "pco_module.h"
#include <stdio.h>

int
pco_modules_init(void)
{
    unsigned  i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->api_version != PCO_MODULE_API_VERSION) {
            fprintf(stderr, "%s: module \"%s\" is built for module API version %u, "
                    "this binary uses version %u\n", PCO_NAME,
                    pco_modules[i]->name ? pco_modules[i]->name : "?",
                    pco_modules[i]->api_version, (unsigned) PCO_MODULE_API_VERSION);
            return PCO_ERROR;
        }
        pco_modules[i]->index = i;
    }

    return PCO_OK;
}

pco_module_t *
pco_module_find(const char *name)
{
    unsigned  i;

    for (i = 0; pco_modules[i] != NULL; i++) {
        if (pco_modules[i]->name != NULL && strcmp(pco_modules[i]->name, name) == 0) {
            return pco_modules[i];
        }
    }

    return NULL;
}
