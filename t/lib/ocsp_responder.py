#!/usr/bin/env python3
# ocsp_responder.py: OCSP responses with chosen times for portico's stapling tests (needs the
# python3 cryptography package), where `openssl ocsp` cannot set thisUpdate/nextUpdate in
# seconds.
#
#   python3 t/lib/ocsp_responder.py --cert LEAF --issuer CA --signer CERT --key KEY
#                                   [--status good|revoked] [--next SECONDS]
#                                   (--out FILE | --port N)
#
# The response says STATUS for LEAF (issued by CA), signed by SIGNER/KEY (the CA itself or a
# responder it delegated to, included in the response), thisUpdate 60 s ago and nextUpdate
# SECONDS from now (negative: already expired; omitted: no nextUpdate). --out writes one DER
# response; --port serves a fresh one to every POST on 127.0.0.1:N (whatever was asked),
# prints "ready" once listening and stops on SIGTERM.
import argparse
import datetime
import http.server
import signal
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp


def load(a):
    with open(a.cert, 'rb') as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(a.issuer, 'rb') as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    with open(a.signer, 'rb') as f:
        signer = x509.load_pem_x509_certificate(f.read())
    with open(a.key, 'rb') as f:
        key = serialization.load_pem_private_key(f.read(), None)
    return cert, issuer, signer, key


def response(a, cert, issuer, signer, key):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
    revoked = a.status == 'revoked'
    b = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=issuer, algorithm=hashes.SHA1(),
        cert_status=ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
        this_update=now - datetime.timedelta(seconds=60),
        next_update=None if a.next is None else now + datetime.timedelta(seconds=a.next),
        revocation_time=now - datetime.timedelta(seconds=3600) if revoked else None,
        revocation_reason=None)
    b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
    if signer != issuer:
        b = b.certificates([signer])
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def main():
    p = argparse.ArgumentParser()
    for n in ('cert', 'issuer', 'signer', 'key'):
        p.add_argument('--' + n, required=True)
    p.add_argument('--status', default='good', choices=['good', 'revoked'])
    p.add_argument('--next', type=int)
    p.add_argument('--out')
    p.add_argument('--port', type=int)
    a = p.parse_args()
    cert, issuer, signer, key = load(a)
    if a.out:
        with open(a.out, 'wb') as f:
            f.write(response(a, cert, issuer, signer, key))
        return

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get('Content-Length', '0')))
            body = response(a, cert, issuer, signer, key)
            self.send_response(200)
            self.send_header('Content-Type', 'application/ocsp-response')
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(('127.0.0.1', a.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print('ready', flush=True)
    srv.serve_forever()


if __name__ == '__main__':
    main()
