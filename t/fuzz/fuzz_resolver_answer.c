/*
 * fuzz_resolver_answer.c: libFuzzer target for the reading of DNS responses by the resolver
 * helper (modules/resolver/pco_resolver_dns.c: pco_resolver_parse_answer over libresolv's
 * ns_initparse/ns_parserr). The input is a response; its own identifier is the expected one
 * and its first byte picks A or AAAA. Invariants (abort() otherwise): at most
 * PCO_RESOLVER_MAX_ADDRS addresses; a refused response adds nothing and says why; every
 * address has the asked family, its length and the port; a TTL whenever an address came;
 * the address set normalizes to no more than it held.
 */
#include <stdlib.h>
#include <string.h>
#include <arpa/nameser.h>
#include "pco_resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
pco_fuzz_check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pco_resolver_answer_t  a;
    int                           qtype, fam;
    uint16_t                      id;
    unsigned                      i, n;

    if (size < 2) {
        return 0;
    }
    id = (uint16_t) (data[0] << 8 | data[1]);
    qtype = data[0] & 1 ? ns_t_aaaa : ns_t_a;
    fam = qtype == ns_t_a ? AF_INET : AF_INET6;
    memset(&a, 0, sizeof(a));
    if (pco_resolver_parse_answer(data, size, id, qtype, 8080, &a) != PCO_OK) {
        pco_fuzz_check(a.n == 0 && a.error[0] != '\0');
        return 0;
    }
    pco_fuzz_check(a.n <= PCO_RESOLVER_MAX_ADDRS);
    pco_fuzz_check(a.n == 0 || a.have_ttl);
    for (i = 0; i < a.n; i++) {
        pco_fuzz_check(a.addrs[i].sa.sa_family == fam);
        pco_fuzz_check(a.lens[i] == (fam == AF_INET ? sizeof(struct sockaddr_in)
                                                    : sizeof(struct sockaddr_in6)));
        pco_fuzz_check(ntohs(fam == AF_INET ? a.addrs[i].sin.sin_port
                                            : a.addrs[i].sin6.sin6_port) == 8080);
    }
    n = pco_resolver_set_normalize(a.addrs, a.lens, a.n);
    pco_fuzz_check(n <= a.n && (a.n == 0 || n > 0));
    return 0;
}
