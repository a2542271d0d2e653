#!/usr/bin/python3
"""Writes the malformed-input corpus of pfdiag's reliability test.

Every file is deterministic: running this again rewrites the same bytes.
The good lines come from testdata/corpus/real-postfix/mail.log (written by a
real Postfix 3.7.11 in this project's own run). Each damaged file puts
damage between two copies of the same good block, so a test can check that
the lines around the damage still count: the block has one sent, one bounced
and one deferred delivery line. The 1 MB line is not committed: the test
generates it (reliability_test.go).

Usage: python3 make.py   (from this directory)
"""

import gzip
import random

GOOD = [
    b"Nov 30 07:33:55 mail postfix/pickup[16869]: 8FFDEC2174: uid=0 from=<mailtest@mail.test.local>",
    b"Nov 30 07:33:55 mail postfix/cleanup[16954]: 8FFDEC2174: message-id=<20261130073355.8FFDEC2174@mail.test.local>",
    b"Nov 30 07:33:55 mail postfix/qmgr[16870]: 8FFDEC2174: from=<mailtest@mail.test.local>, size=361, nrcpt=1 (queue active)",
    b"Nov 30 07:33:55 mail postfix/smtp[16961]: 8FFDEC2174: to=<ok@accept.test>, relay=127.0.0.1[127.0.0.1]:2525, delay=0.05, delays=0.02/0.03/0.01/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
    b"Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
    b"Nov 30 07:33:55 mail postfix/smtp[16961]: AA4B4C2178: to=<user@busy.test>, relay=127.0.0.1[127.0.0.1]:2527, delay=0, delays=0/0/0/0, dsn=4.7.0, status=deferred (host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.7.0 mx.busy.test Error: too many connections from 127.0.0.1)",
    b"Nov 30 07:33:55 mail postfix/qmgr[16870]: 8FFDEC2174: removed",
]
SENT, BOUNCED, DEFERRED = GOOD[3], GOOD[4], GOOD[5]


def lines(*ls, end=b"\n"):
    return b"".join(l + end for l in ls)


def write(name, data):
    with open(name, "wb") as f:
        f.write(data)


def main():
    rnd = random.Random(8)
    block = lines(*GOOD)

    # The good block alone: the control file.
    write("good.log", block)

    # NUL bytes: a run of NULs where a crash left a hole (classic syslog after
    # a power loss), a line prefixed by NULs, a NUL inside a reason.
    write("nul-bytes.log", block + lines(
        b"\0" * 512,
        b"\0" * 64 + SENT,
        BOUNCED.replace(b"User unknown", b"User\0unknown"),
    ) + block)

    # Invalid UTF-8: a Latin-1 address, broken sequences in a reason, a line
    # of high bytes without a header, an overlong sequence in a Postfix line.
    write("invalid-utf8.log", block + lines(
        SENT.replace(b"ok@accept.test", b"j\xf6rg@accept.test"),
        BOUNCED.replace(b"User unknown", b"User \xff\xfe\xfd unknown \xc3\x28"),
        bytes(rnd.randrange(0x80, 0x100) for _ in range(200)),
        b"Nov 30 07:33:55 mail postfix/smtp[16961]: \xc0\xaf\xe0\x80\xaf not a known message",
    ) + block)

    # Truncated lines: cut inside the header, inside the tag, inside an
    # address and inside a reason; blank lines; the last line has no newline.
    write("truncated.log", block + lines(
        b"Nov 30 07:33",
        b"Nov 30 07:33:55 mail postf",
        b"Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.t",
        BOUNCED[:BOUNCED.index(b"User unknown") + 8],
        b"",
        b"   ",
    ) + block + SENT)

    # CRLF line endings (a log copied through Windows, or a journal export).
    write("crlf.log", lines(*GOOD, end=b"\r\n") * 2)

    write("empty.log", b"")

    # A gzip file cut in the middle (a rotation interrupted by a full disk).
    # Distinct queue IDs per copy keep it from compressing to almost nothing,
    # so that the cut falls in the middle of the lines.
    many = b"".join(block.replace(b"8FFDEC2174", b"%010X" % (0x8FFDEC2174 + i)) for i in range(100))
    full = gzip.compress(many, mtime=0)
    write("cut.log.gz", full[: len(full) // 2])

    # Control characters meant for a terminal (ANSI/OSC escapes, BEL, bare
    # CR, backspace) in a line pfdiag does not know and in a malformed line.
    write("control-chars.log", block + lines(
        b"Nov 30 07:33:55 mail postfix/smtp[16961]: \x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\rover\x08written",
        b"\x1b[31m\x1b[1mnot a log line\x1b[0m\x07",
    ) + block)

    # Not a log at all: an HTML page and a tarball-like binary header.
    write("not-a-log.txt", lines(
        b"<!DOCTYPE html>",
        b"<html><head><title>Mail statistics</title></head>",
        b"<body><h1>Delivered: 1234</h1><p>status=sent to=<someone@example.org></p>",
        b"<script>alert('x')</script></body></html>",
        b"",
        b"Dear admin, the mail server is down again. Please check postfix/smtp.",
        b"{\"MESSAGE\": 42, \"SYSLOG_IDENTIFIER\": [1, 2]}",
    ))

    # Random bytes (with a few newlines), like a binary given by mistake.
    write("binary.bin", bytes(rnd.randrange(256) for _ in range(4096)))


if __name__ == "__main__":
    main()
