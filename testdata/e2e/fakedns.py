#!/usr/bin/python3
"""A fake DNS server for the pfdiag end-to-end run (standard library only).

It runs inside the harness's network namespace on 127.0.0.1:53, where
/etc/resolv.conf is bind-mounted to "nameserver 127.0.0.1", so Postfix's
lookups never leave the namespace. Answers:

  servfail.test (and below)  SERVFAIL -> "Host not found, try again" (deferred)
  nullmx.test                MX 0 .   -> RFC 7505 null MX (Postfix: "nullMX")
  anything else              NXDOMAIN -> "Host not found" (bounced)

Every query is written to --log as "NAME TYPE -> ANSWER".

Usage: fakedns.py --log FILE --ready FILE [--port 53]
"""

import argparse
import socket
import struct
import time

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 41: "OPT"}
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3


def parse_question(msg):
    """Returns (id, flags, qname, qtype, end of question) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n & 0xC0 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, _qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def answer(msg):
    q = parse_question(msg)
    if q is None:
        return None, "unparsable query"
    qid, flags, name, qtype, qend = q
    question = msg[12:qend]
    rd = flags & 0x0100
    opcode = flags & 0x7800
    rcode, answers, what = NXDOMAIN, b"", "NXDOMAIN"
    if name == "servfail.test" or name.endswith(".servfail.test"):
        rcode, what = SERVFAIL, "SERVFAIL"
    elif name == "nullmx.test":
        rcode = NOERROR
        if qtype == 15:
            # NAME (pointer to the question), TYPE MX, CLASS IN, TTL, RDLENGTH 3,
            # preference 0, exchange "." (the root: one zero byte).
            answers = struct.pack("!HHHIH", 0xC00C, 15, 1, 300, 3) + struct.pack("!H", 0) + b"\x00"
            what = "MX 0 ."
        else:
            what = "NOERROR, no data"
    flags_out = 0x8000 | opcode | 0x0400 * (rcode != SERVFAIL) | rd | 0x0080 | rcode
    ancount = 1 if answers else 0
    header = struct.pack("!HHHHHH", qid, flags_out, 1, ancount, 0, 0)
    return header + question + answers, f"{name} {TYPES.get(qtype, qtype)} -> {what}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", a.port))
    log = open(a.log, "a", encoding="utf-8", buffering=1)
    with open(a.ready, "w") as f:
        f.write("ready\n")
    while True:
        msg, peer = sock.recvfrom(4096)
        reply, text = answer(msg)
        log.write(f"{time.strftime('%H:%M:%S')} dns {text}\n")
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
