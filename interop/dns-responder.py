"""A DNS responder for the tests, on the PyPI `dnslib` server (interop/.venv-dns, installed by
scripts/test). Serves the records of the JSON file DNS_RECORDS_FILE, read again for every query
so a test can publish a record while it runs ({"name": {"TXT": ["..."], "A": ["..."],
"AAAA": ["..."]}}), over UDP and TCP on 127.0.0.1 and a free port; every other name is NXDOMAIN.
Prints `READY <port>` on stdout once both listeners run, then serves until stdin closes.
"""

import json
import os
import socket
import sys

from dnslib import AAAA, QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Records(BaseResolver):
    def __init__(self, path):
        self.path = path

    def records(self):
        try:
            with open(self.path) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            raw = {}
        return {k.lower().rstrip(".") + ".": v for k, v in raw.items()}

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower()
        kind = QTYPE[request.q.qtype]
        entry = self.records().get(name)
        if entry is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        make = {"TXT": TXT, "A": A, "AAAA": AAAA}.get(kind)
        for value in entry.get(kind, []) if make else []:
            reply.add_answer(RR(request.q.qname, request.q.qtype, rdata=make(value), ttl=60))
        return reply


def free_port():
    # A port free for both UDP and TCP.
    while True:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        return port


def main():
    resolver = Records(os.environ["DNS_RECORDS_FILE"])
    port = free_port()
    # dnslib logs every query to stdout by default; the test reads only the READY line, then
    # closes its end of the pipe, so a later print would kill the handler.
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    udp = DNSServer(resolver, port=port, address="127.0.0.1", logger=quiet)
    tcp = DNSServer(resolver, port=port, address="127.0.0.1", tcp=True, logger=quiet)
    udp.start_thread()
    tcp.start_thread()
    print(f"READY {port}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
