#!/usr/bin/python3
"""Scenario driver of the pfdiag end-to-end run (standard library only).

Subcommands (run.sh calls them; each can be run by hand too):
  transport PEERS                 print the transport map for peers.tsv
  submit SCENARIOS                submit every scenario's message
  watch SCENARIOS LOG             do the postsuper actions (then=hold/expire)
                                  when their first deferral appears; return
                                  when every row shows its expected final
                                  state in LOG, or at --deadline
  capture OUTDIR                  postqueue -j/-p into OUTDIR, retried until
                                  the two agree (the queue moves while Postfix
                                  runs)
  metrics URL LOG OUTFILE         fetch URL until pfdiag_lines_total reaches
                                  the line count of LOG (or --timeout)
  check SCENARIOS LOG OUTDIR      the self-check: expected.tsv, observed.tsv,
                                  one line per check, "N passed, N failed";
                                  exit 0 only when all pass
"""

import argparse
import email.utils
import json
import os
import re
import smtplib
import subprocess
import sys
import time
import urllib.request

SENDER = "mailtest@mail.test.local"
QID = re.compile(r"^[0-9A-Za-z]{5,20}$")  # Postfix queue IDs, short or long
LINE = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[]+)\[(\d+)\]: (.*)$")
DELIVERY = re.compile(r"^([0-9A-Za-z]+): to=<([^>]*)>,.* status=(\S+)")
EXPIRED = re.compile(r"^([0-9A-Za-z]+): from=<[^>]*>, status=(expired|force-expired), returned to sender")
HOLD = re.compile(r"^([0-9A-Za-z]+): placed on hold")
HEADER_HOLD = re.compile(r"^([0-9A-Za-z]+): hold: .* to=<([^>]*)>")
NOQUEUE = re.compile(r"^NOQUEUE: reject: RCPT from .* to=<([^>]*)>")
PQ_LINE = re.compile(r"^([0-9A-Za-z]+)([*!]?)\s+(\d+)\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d\s")


def read_tsv(path):
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


def options(row):
    """The submit column as (method, {option: value})."""
    words = row["submit"].split()
    opts = {}
    for w in words[1:]:
        k, _, v = w.partition("=")
        opts[k] = v
    return words[0], opts


# --- transport ---------------------------------------------------------------

def cmd_transport(a):
    for row in read_tsv(a.peers):
        for dom in row["domains"].split(","):
            print(f"{dom}\t{row['transport']}")


# --- submit ------------------------------------------------------------------

def message(scenario, rcpts, size, subject):
    head = (
        f"From: Mail Test <{SENDER}>\r\n"
        f"To: {', '.join(rcpts)}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {email.utils.formatdate(localtime=True)}\r\n"
        f"X-Pfdiag-Scenario: {scenario}\r\n"
        "\r\n"
        f"Scenario {scenario} of the pfdiag end-to-end run.\r\n"
    )
    body = head
    pad = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n"
    while len(body) < size:
        body += pad
    return body.encode()


def cmd_submit(a):
    rows = read_tsv(a.scenarios)
    names = {row["scenario"] for row in rows}
    extra = {}
    for row in rows:
        method, _ = options(row)
        if method.startswith("with="):
            if method[5:] not in names:
                sys.exit(f"scenario {row['scenario']}: {method}: no such scenario")
            extra.setdefault(method[5:], []).append(row["recipient"])
    problems = 0
    for row in rows:
        method, opts = options(row)
        if method.startswith("with="):
            continue
        rcpts = [row["recipient"]] + extra.get(row["scenario"], [])
        subject = f"pfdiag e2e: {row['scenario']}"
        if opts.get("subject") == "[HOLD]":
            subject = "[HOLD] " + subject
        msg = message(row["scenario"], rcpts, int(opts.get("size", 0)), subject)
        want_reject = row["expected_status"] == "rejected"
        outcome = submit(method, rcpts, msg)
        ok = (outcome == "accepted") != want_reject
        print(f"submit {row['scenario']:32} {method:12} {outcome}{'' if ok else '  <- UNEXPECTED'}")
        problems += not ok
    return 1 if problems else 0


def submit(method, rcpts, msg):
    """Returns "accepted" or a short description of the refusal."""
    if method == "sendmail":
        p = subprocess.run(["/usr/sbin/sendmail", "-i", "-f", SENDER, "--"] + rcpts,
                           input=msg, capture_output=True)
        if p.returncode == 0:
            return "accepted"
        return f"sendmail exit {p.returncode}: {p.stderr.decode(errors='replace').strip()}"
    if method not in ("smtp", "smtp-nosize"):
        sys.exit(f"unknown submit method {method!r}")
    try:
        with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.test.local", timeout=30) as s:
            if method == "smtp":
                # smtplib adds SIZE= when the server offers it.
                s.sendmail(SENDER, rcpts, msg)
            else:
                s.ehlo()
                code, text = s.mail(SENDER)
                if code != 250:
                    return f"MAIL {code} {text.decode()}"
                for r in rcpts:
                    code, text = s.rcpt(r)
                    if code not in (250, 251):
                        return f"RCPT {code} {text.decode()}"
                code, text = s.data(msg)
                if code != 250:
                    return f"DATA {code} {text.decode()}"
        return "accepted"
    except smtplib.SMTPSenderRefused as e:
        return f"MAIL {e.smtp_code} {e.smtp_error.decode()}"
    except smtplib.SMTPRecipientsRefused as e:
        return "RCPT " + "; ".join(f"{c} {t.decode()}" for c, t in e.recipients.values())
    except smtplib.SMTPDataError as e:
        return f"DATA {e.smtp_code} {e.smtp_error.decode()}"


# --- log analysis --------------------------------------------------------------

class Log:
    """What the self-check needs from a Postfix log, by (instance, queue ID)."""

    def __init__(self, path):
        self.lines = []
        self.deliveries = {}   # rcpt -> [(idx, instance, qid, status, text)]
        self.expired = {}      # (instance, qid) -> (idx, text)
        self.holds = {}        # (instance, qid) -> (idx, text)
        self.header_holds = {} # rcpt -> (idx, text)
        self.noqueue = {}      # rcpt -> (idx, text)
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                self.lines = f.read().splitlines()
        except FileNotFoundError:
            pass
        for idx, line in enumerate(self.lines):
            m = LINE.match(line)
            if not m:
                continue
            program, msg = m.group(3), m.group(5)
            inst, daemon = program.split("/")[0], program.split("/")[-1]
            d = DELIVERY.match(msg)
            if d and daemon not in ("cleanup", "smtpd"):
                text = msg[msg.index(" status=") + 1:]
                self.deliveries.setdefault(d.group(2).lower(), []).append((idx, inst, d.group(1), d.group(3), text))
                continue
            e = EXPIRED.match(msg)
            if e and daemon == "qmgr":
                self.expired[(inst, e.group(1))] = (idx, msg)
                continue
            h = HOLD.match(msg)
            if h and daemon == "postsuper":
                self.holds[(inst, h.group(1))] = (idx, msg)
                continue
            h = HEADER_HOLD.match(msg)
            if h and daemon == "cleanup":
                self.header_holds[h.group(2).lower()] = (idx, msg)
                continue
            n = NOQUEUE.match(msg)
            if n:
                self.noqueue[n.group(1).lower()] = (idx, msg)

    def final(self, rcpt):
        """(status, evidence, instance, qid) of a recipient's final state."""
        rcpt = rcpt.lower()
        ds = self.deliveries.get(rcpt)
        if ds:
            idx, inst, qid, status, text = ds[-1]
            last = (idx, status, text)
            for table, what in ((self.expired, "expired"), (self.holds, "held")):
                ev = table.get((inst, qid))
                if ev and ev[0] > last[0]:
                    last = (ev[0], what, ev[1])
            return last[1], last[2], inst, qid
        if rcpt in self.header_holds:
            return "held", self.header_holds[rcpt][1], "", ""
        if rcpt in self.noqueue:
            return "rejected", self.noqueue[rcpt][1], "", ""
        return None, "", "", ""

    def first_deferral(self, rcpt):
        for idx, inst, qid, status, text in self.deliveries.get(rcpt.lower(), []):
            if status == "deferred":
                return inst, qid
        return None

    def grep(self, text):
        for line in self.lines:
            if text in line:
                return line
        return None


def judge(log, row):
    """(observed status, evidence, passed)."""
    status, evidence, _, _ = log.final(row["recipient"])
    if status is None and row["expected_status"] == "rejected":
        # Postfix does not log the recipient of a message refused for its
        # size; the check text identifies the line.
        line = log.grep(row["check"])
        if line:
            m = LINE.match(line)
            status, evidence = "rejected", m.group(5) if m else line
    if status is None:
        return "missing", "(no line for this recipient)", False
    ok = status == row["expected_status"] and row["check"] in evidence
    return status, evidence, ok


# --- watch -------------------------------------------------------------------

def cmd_watch(a):
    rows = read_tsv(a.scenarios)
    start = time.monotonic()
    done = set()
    while True:
        log = Log(a.log)
        for row in rows:
            _, opts = options(row)
            then = opts.get("then")
            if not then or row["scenario"] in done:
                continue
            first = log.first_deferral(row["recipient"])
            if not first:
                continue
            inst, qid = first
            if not QID.match(qid):
                sys.exit(f"refusing to pass {qid!r} to postsuper")
            flag = {"hold": "-h", "expire": "-e"}[then]
            confdir = "/etc/" + inst
            p = subprocess.run(["postsuper", "-c", confdir, flag, qid], capture_output=True, text=True)
            print(f"watch: {row['scenario']}: postsuper {flag} {qid}: {p.stderr.strip() or p.returncode}")
            done.add(row["scenario"])
        pending = [r["scenario"] for r in rows if not judge(log, r)[2]]
        elapsed = time.monotonic() - start
        if not pending and elapsed >= a.min:
            print(f"watch: every scenario reached its final state after {elapsed:.0f} s")
            return 0
        if elapsed >= a.deadline:
            print(f"watch: deadline of {a.deadline} s reached; still pending: {' '.join(pending)}")
            return 1
        time.sleep(1)


# --- capture -----------------------------------------------------------------

def parse_postqueue_p(text):
    """{queue ID: "active"|"hold"|"deferred"} from postqueue -p output."""
    out = {}
    for line in text.splitlines():
        m = PQ_LINE.match(line)
        if m:
            out[m.group(1)] = {"*": "active", "!": "hold", "": "deferred"}[m.group(2)]
    return out


def parse_postqueue_j(text):
    out = {}
    for line in text.splitlines():
        if line.strip():
            rec = json.loads(line)
            out[rec["queue_id"]] = rec["queue_name"]
    return out


def queues_agree(jtext, ptext):
    j, p = parse_postqueue_j(jtext), parse_postqueue_p(ptext)
    if j != p:
        diff = sorted(set(j.items()) ^ set(p.items()))
        return False, f"postqueue -j and -p differ: {diff}"
    return True, f"{len(j)} messages: " + ", ".join(
        f"{q} {sum(1 for v in j.values() if v == q)}" for q in sorted(set(j.values())))


def cmd_capture(a):
    for attempt in range(1, 21):
        j = subprocess.run(["postqueue", "-j"], capture_output=True, text=True, check=True).stdout
        p = subprocess.run(["postqueue", "-p"], capture_output=True, text=True, check=True).stdout
        ok, why = queues_agree(j, p)
        if ok:
            break
        print(f"capture: attempt {attempt}: {why}; retrying")
        time.sleep(0.5)
    with open(os.path.join(a.outdir, "postqueue.json"), "w") as f:
        f.write(j)
    with open(os.path.join(a.outdir, "postqueue.txt"), "w") as f:
        f.write(p)
    out = subprocess.run(["postqueue", "-c", "/etc/postfix-out", "-j"], capture_output=True, text=True).stdout
    with open(os.path.join(a.outdir, "postqueue-out.json"), "w") as f:
        f.write(out)
    print(f"capture: {why}")
    return 0 if ok else 1


# --- metrics -----------------------------------------------------------------

def lines_total(body):
    total = None
    for line in body.splitlines():
        if line.startswith("pfdiag_lines_total"):
            total = (total or 0) + float(line.rsplit(" ", 1)[1])
    return total


def cmd_metrics(a):
    with open(a.log, "rb") as f:
        want = sum(1 for _ in f)
    deadline = time.monotonic() + a.timeout
    body, why = "", ""
    while True:
        try:
            with urllib.request.urlopen(a.url, timeout=5) as r:
                body = r.read().decode("utf-8", "replace")
            got = lines_total(body)
            if got is not None and got >= want:
                why = f"pfdiag_lines_total {got:.0f} of {want} lines"
                break
            why = f"pfdiag_lines_total {got} of {want} lines"
        except OSError as e:
            why = f"{a.url}: {e}"
        if time.monotonic() >= deadline:
            why += f" (gave up after {a.timeout} s)"
            break
        time.sleep(0.5)
    with open(a.out, "w") as f:
        f.write(body)
    print(f"metrics: {why}")
    return 0


# --- check -------------------------------------------------------------------

def cmd_check(a):
    rows = read_tsv(a.scenarios)
    log = Log(a.log)
    passed = failed = 0
    with open(os.path.join(a.outdir, "expected.tsv"), "w") as exp, \
            open(os.path.join(a.outdir, "observed.tsv"), "w") as obs:
        exp.write("scenario\trecipient\texpected_status\treason_category\n")
        obs.write("scenario\trecipient\texpected_status\treason_category\tobserved_status\tresult\tevidence\n")
        for row in rows:
            exp.write("\t".join(row[k] for k in ("scenario", "recipient", "expected_status", "reason_category")) + "\n")
            status, evidence, ok = judge(log, row)
            evidence = evidence.replace("\t", " ")
            obs.write("\t".join([row["scenario"], row["recipient"], row["expected_status"], row["reason_category"],
                                 status, "pass" if ok else "FAIL", evidence]) + "\n")
            print(f"{'PASS' if ok else 'FAIL'} {row['scenario']:32} want {row['expected_status']:8} got {status:8} {evidence[:150]}")
            if not ok and status == row["expected_status"]:
                print(f"     (the evidence does not contain {row['check']!r})")
            passed += ok
            failed += not ok
    # The queue files must describe the same queue.
    try:
        with open(os.path.join(a.outdir, "postqueue.json")) as fj, open(os.path.join(a.outdir, "postqueue.txt")) as fp:
            ok, why = queues_agree(fj.read(), fp.read())
    except (OSError, ValueError, KeyError) as e:
        ok, why = False, str(e)
    print(f"{'PASS' if ok else 'FAIL'} {'postqueue_json_agrees_with_txt':32} {why}")
    passed += ok
    failed += not ok
    # The command run during the scenarios (if any) must have lived until the
    # capture and stopped on SIGTERM.
    status_file = os.path.join(a.outdir, "during.status")
    if os.path.exists(status_file):
        with open(status_file) as f:
            st = f.read().strip()
        ok = st.startswith("stopped")
        print(f"{'PASS' if ok else 'FAIL'} {'during_command':32} {st}")
        passed += ok
        failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("transport")
    p.add_argument("peers")
    p = sub.add_parser("submit")
    p.add_argument("scenarios")
    p = sub.add_parser("watch")
    p.add_argument("scenarios")
    p.add_argument("log")
    p.add_argument("--min", type=float, default=0)
    p.add_argument("--deadline", type=float, default=90)
    p = sub.add_parser("capture")
    p.add_argument("outdir")
    p = sub.add_parser("metrics")
    p.add_argument("url")
    p.add_argument("log")
    p.add_argument("out")
    p.add_argument("--timeout", type=float, default=15)
    p = sub.add_parser("check")
    p.add_argument("scenarios")
    p.add_argument("log")
    p.add_argument("outdir")
    a = ap.parse_args()
    return {"transport": cmd_transport, "submit": cmd_submit, "watch": cmd_watch, "capture": cmd_capture,
            "metrics": cmd_metrics, "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
