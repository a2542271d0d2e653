#!/usr/bin/python3
"""Scripted SMTP peers for the pfdiag end-to-end run (standard library only).

One process serves every port of peers.tsv that has a mode, each bound to
127.0.0.1 only. The replies are the wordings real receivers send (Gmail,
Microsoft, Yahoo, postgrey, policyd-spf, Spamhaus through Postfix's
reject_rbl_client), so the Postfix log lines they produce are the ones an
administrator meets. Every command received and every reply sent is written
to the --log file.

Usage: peers.py --peers peers.tsv --scenarios scenarios.tsv --log FILE --ready FILE
"""

import argparse
import socket
import socketserver
import sys
import threading
import time

BANNER = "220 {name} ESMTP"


def read_tsv(path):
    """Rows of a tab-separated file as dicts, skipping # comments."""
    rows, header = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if header is None:
                header = cols
                continue
            if len(cols) != len(header):
                sys.exit(f"{path}: {len(cols)} columns, want {len(header)}: {line!r}")
            rows.append(dict(zip(header, cols)))
    return rows


def port_of(transport):
    """The port of smtp:[127.0.0.1]:PORT, or None."""
    if not transport.startswith("smtp:[127.0.0.1]:"):
        return None
    return int(transport.rsplit(":", 1)[1])


class Log:
    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8", buffering=1)
        self.lock = threading.Lock()

    def write(self, port, conn, text):
        with self.lock:
            self.f.write(f"{time.strftime('%H:%M:%S')} peer:{port} #{conn} {text}\n")


class Peer:
    """Behaviour of one port."""

    def __init__(self, port, mode, reply, domains, rules, log):
        self.port, self.mode, self.reply = port, mode, reply
        self.name = "mx." + domains.split(",")[0]
        self.rules = rules  # recipient -> (stage, text), scripted mode only
        self.log = log
        self.conns = 0
        self.lock = threading.Lock()

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns


class Session:
    def __init__(self, peer, sock, ip):
        self.peer, self.sock, self.ip = peer, sock, ip
        self.conn = peer.next_conn()
        self.rfile = sock.makefile("rb")
        self.sender = ""
        self.rcpts = []

    def log(self, text):
        self.peer.log.write(self.peer.port, self.conn, text)

    def send(self, text, **fill):
        """Send a reply; text may hold several lines separated by \\n."""
        vals = {"ip": self.ip, "sender": self.sender}
        vals.update(fill)
        for key, val in vals.items():
            text = text.replace("{" + key + "}", val)
        lines = text.split("\n")
        self.log("-> " + " | ".join(lines))
        self.sock.sendall("".join(l + "\r\n" for l in lines).encode())

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def run(self):
        p = self.peer
        self.log(f"connect from {self.ip} mode={p.mode}")
        if p.mode == "silent":
            # Never greet: Postfix gives up after smtp_helo_timeout.
            while self.readline() is not None:
                pass
            return
        if p.mode == "greet":
            self.send(p.reply)
            self.wait_quit()
            return
        self.send(BANNER.format(name=p.name))
        while True:
            line = self.readline()
            if line is None:
                self.log("client closed")
                return
            self.log("<- " + line)
            verb = line.split(" ", 1)[0].upper()
            arg = line[len(verb):].strip()
            if verb in ("EHLO", "HELO"):
                ext = [p.name]
                if verb == "EHLO":
                    if p.mode == "size":
                        ext.append("SIZE " + p.reply)
                    ext += ["8BITMIME", "ENHANCEDSTATUSCODES"]
                self.send("\n".join(("250-" if i < len(ext) - 1 else "250 ") + e for i, e in enumerate(ext)))
            elif verb == "MAIL":
                self.sender = addr(arg)
                self.rcpts = []
                if p.mode == "mail":
                    self.send(p.reply)
                    if p.reply.startswith("421"):
                        return
                else:
                    self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpt = addr(arg)
                if p.mode == "drop-rcpt":
                    self.log("dropping the connection at RCPT")
                    return
                rule = p.rules.get(rcpt.lower())
                if rule and rule[0] == "rcpt":
                    self.send(rule[1], rcpt=rcpt)
                else:
                    self.rcpts.append(rcpt)
                    self.send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not self.rcpts:
                    self.send("554 5.5.1 Error: no valid recipients")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                size = 0
                while True:
                    body = self.rfile.readline(1 << 20)
                    if not body:
                        self.log("client closed during DATA")
                        return
                    if body in (b".\r\n", b".\n"):
                        break
                    size += len(body)
                self.log(f"<- message of {size} bytes")
                if p.mode == "drop-data":
                    self.log("dropping the connection after the final dot")
                    return
                reply, who = "250 2.0.0 Ok", ""
                for rcpt in self.rcpts:
                    rule = p.rules.get(rcpt.lower())
                    if rule and rule[0] == "data":
                        reply, who = rule[1], rcpt
                        break
                self.send(reply, rcpt=who)
                self.rcpts = []
            elif verb == "RSET":
                self.rcpts = []
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")

    def wait_quit(self):
        """After a 4xx/5xx greeting the client says QUIT (or just closes)."""
        self.sock.settimeout(10)
        try:
            line = self.readline()
            if line is not None:
                self.log("<- " + line)
                if line.upper().startswith("QUIT"):
                    self.send("221 2.0.0 Bye")
        except OSError:
            pass


def addr(arg):
    """The address inside <...> of a MAIL FROM:/RCPT TO: argument."""
    start, end = arg.find("<"), arg.find(">")
    if start < 0 or end < start:
        return arg.split(":", 1)[-1].strip()
    return arg[start + 1:end]


def make_handler(peer):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(120)
            try:
                Session(peer, self.request, self.client_address[0]).run()
            except OSError as e:
                peer.log.write(peer.port, 0, f"socket error: {e}")
    return Handler


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def blackhole(port, log):
    """A listener whose accept queue is full: the kernel drops new SYNs, so
    Postfix's connect() runs into smtp_connect_timeout instead of being
    refused."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(0)
    fillers = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.2)
    log.write(port, 0, "blackhole listener with a full accept queue")
    return [lsock] + fillers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", required=True)
    ap.add_argument("--scenarios", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--ready", required=True)
    a = ap.parse_args()

    log = Log(a.log)
    rules = {}
    for row in read_tsv(a.scenarios):
        peer = row["peer"]
        if peer == "-":
            continue
        stage, _, text = peer.partition(":")
        if stage not in ("rcpt", "data") or not text:
            sys.exit(f"scenario {row['scenario']}: bad peer column {peer!r}")
        rules[row["recipient"].lower()] = (stage, text.replace("\\n", "\n"))

    keep = []
    for row in read_tsv(a.peers):
        port = port_of(row["transport"])
        mode = row["mode"]
        if mode in ("-", "closed") or port is None:
            continue
        if mode == "blackhole":
            keep += blackhole(port, log)
            continue
        if mode not in ("accept", "scripted", "greet", "mail", "size", "silent", "drop-rcpt", "drop-data"):
            sys.exit(f"peers.tsv: port {port}: unknown mode {mode!r}")
        peer = Peer(port, mode, row["reply"], row["domains"], rules if mode == "scripted" else {}, log)
        srv = Server(("127.0.0.1", port), make_handler(peer))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        keep.append(srv)
        log.write(port, 0, f"listening, mode {mode}")

    with open(a.ready, "w") as f:
        f.write("ready\n")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
