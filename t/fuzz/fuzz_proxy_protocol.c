/*
 * fuzz_proxy_protocol.c: libFuzzer target for the PROXY protocol parser
 * (core/pco_proxy_protocol.c). The input is parsed whole and then every shorter prefix is
 * checked against it: a prefix of a parsed header must ask for more, a prefix of a refused
 * input must ask for more or be refused (never parse), and bytes after a parsed header must
 * not change the result. A parsed header is at most PCO_PROXY_PROTOCOL_MAX bytes (107 for
 * v1), and its addresses are built back into a header that must parse again. Invariant
 * failures abort().
 */
#include <stdlib.h>
#include "pco_proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

/* Builds src/dst (or "no client") back in both versions; each must parse again. */
static void
pco_fuzz_rebuild(const pco_proxy_protocol_t *pp)
{
    u_char                buf[PCO_PROXY_PROTOCOL_BUILD_MAX];
    pco_proxy_protocol_t  again;
    unsigned              v;
    size_t                n;

    for (v = 1; v <= 2; v++) {
        n = pco_proxy_protocol_build(buf, sizeof(buf), v, pp->local ? NULL : &pp->src,
                                     pp->src_len, pp->local ? NULL : &pp->dst, pp->dst_len);
        pco_fuzz_check(n > 0 && n <= sizeof(buf));
        pco_fuzz_check(pco_proxy_protocol_parse(buf, n, &again) == PCO_OK);
        pco_fuzz_check(again.len == n);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pco_proxy_protocol_t  pp, pre;
    size_t                i;
    int                   rc, rc2;

    rc = pco_proxy_protocol_parse(data, size, &pp);
    pco_fuzz_check(rc == PCO_OK || rc == PCO_AGAIN || rc == PCO_ERROR);
    if (rc == PCO_ERROR) {
        pco_fuzz_check(pp.error != NULL);
    }
    if (rc == PCO_OK) {
        pco_fuzz_check(pp.len > 0 && pp.len <= size && pp.len <= PCO_PROXY_PROTOCOL_MAX);
        pco_fuzz_check(pp.version == 2 || pp.len <= PCO_PROXY_PROTOCOL_V1_MAX);
        /* the header alone parses the same */
        rc2 = pco_proxy_protocol_parse(data, pp.len, &pre);
        pco_fuzz_check(rc2 == PCO_OK && pre.len == pp.len && pre.local == pp.local);
        pco_fuzz_rebuild(&pp);
    }
    for (i = 0; i < size && i < 512; i++) {
        rc2 = pco_proxy_protocol_parse(data, i, &pre);
        if (rc == PCO_OK && i < pp.len) {
            pco_fuzz_check(rc2 == PCO_AGAIN);
        } else if (rc == PCO_AGAIN) {
            pco_fuzz_check(rc2 == PCO_AGAIN);
        } else if (rc == PCO_ERROR) {
            pco_fuzz_check(rc2 != PCO_OK);
        }
    }
    return 0;
}
