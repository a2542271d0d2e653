#!/bin/bash
# End-to-end harness of pfdiag: runs a real Postfix (Debian's package) on
# loopback only, breaks its deliveries in the ways scenarios.tsv lists, and
# writes what Postfix logged. See README.md in this directory.
#
# Usage: run.sh [--long-ids] [--during-metrics URL] OUTDIR [-- COMMAND [ARG...]]
#
#   OUTDIR              receives mail.log, postqueue.json (postqueue -j),
#                       postqueue.txt (postqueue -p), expected.tsv,
#                       observed.tsv, selfcheck.txt and the helpers' logs
#   --long-ids          enable_long_queue_ids = yes
#   -- COMMAND ARG...   started (inside the test namespace, after the log is
#                       reset and before Postfix starts) and stopped with
#                       SIGTERM after the queue is captured and Postfix is
#                       stopped; its stdout/stderr go to OUTDIR/during.stdout
#                       and during.stderr, how it ended to during.status
#   --during-metrics URL  before stopping COMMAND, fetch URL (Prometheus text)
#                       into OUTDIR/during.metrics, waiting until its
#                       pfdiag_lines_total reaches the line count of mail.log
#
# Exit status: 0 only when every self-check passes; 1 otherwise; 2 on usage.
# Needs root. Installs postfix, iproute2, python3 with apt-get when missing.
# Refuses to reconfigure a Postfix it did not set up unless
# PFDIAG_E2E_TAKEOVER=1 or CI=true.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=/var/lib/pfdiag-e2e
LOGDIR=/var/log/pfdiag-e2e
LOG=$LOGDIR/mail.log
PY=/usr/bin/python3
OUTCONF=/etc/postfix-out
MARK='# pfdiag-e2e: this Postfix is configured by testdata/e2e/run.sh of pfdiag, for tests only'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C

say() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
usage() { sed -n '6,24p' "$HERE/run.sh" | sed 's/^# \{0,1\}//'; }

INNER=0 LONG=no METRICS= OUT=
DURING=()
while [ $# -gt 0 ]; do
	case $1 in
	--inner) INNER=1; shift ;;
	--long-ids) LONG=yes; shift ;;
	--during-metrics) [ $# -ge 2 ] || { usage >&2; exit 2; }; METRICS=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	--) shift; DURING=("$@"); break ;;
	-*) say "unknown option $1"; usage >&2; exit 2 ;;
	*) [ -z "$OUT" ] || { usage >&2; exit 2; }; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }

# --- process bookkeeping -------------------------------------------------------
# Every helper is recorded as "PID STARTTIME" so that a later run (after a
# crash) kills exactly that process and never a recycled PID.

starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
record() { echo "$1 $(starttime "$1")" >"$STATE/$2.pid"; }
kill_recorded() { # name
	local f=$STATE/$1.pid pid st i
	[ -f "$f" ] || return 0
	read -r pid st <"$f" || true
	rm -f "$f"
	[ -n "${pid:-}" ] && [ -n "${st:-}" ] && [ "$(starttime "$pid")" = "$st" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do [ "$(starttime "$pid")" = "$st" ] || return 0; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

master_pids() {
	local f p
	for f in /var/spool/postfix/pid/master.pid /var/spool/postfix-out/pid/master.pid; do
		[ -f "$f" ] || continue
		p=$(tr -dc 0-9 <"$f")
		[ -n "$p" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = master ] && echo "$p"
	done
	return 0
}

stop_postfix() {
	local pids i p
	pids=$(master_pids)
	[ -n "$pids" ] || return 0
	postfix stop >/dev/null 2>&1 9>&- || true
	for i in $(seq 150); do [ -z "$(master_pids)" ] && return 0; sleep 0.1; done
	say "Postfix did not stop in 15 s: postfix abort"
	postfix abort >/dev/null 2>&1 9>&- || true
	sleep 2
	for p in $(master_pids); do kill -KILL "$p" 2>/dev/null || true; done
}

# =============================================================================
# Inner part: runs in a private network and mount namespace.
# =============================================================================

BG=
run_bg() { # run a long step in the background so that signals are handled at once
	local rc=0
	"$@" 9>&- &
	BG=$!
	wait "$BG" || rc=$?
	BG=
	return $rc
}

inner_cleanup() {
	local rc=$?
	trap '' INT TERM
	trap - EXIT
	[ -n "$BG" ] && kill -TERM "$BG" 2>/dev/null || true
	stop_postfix
	kill_recorded during
	kill_recorded peers
	kill_recorded dns
	rm -f "$STATE/inner.pid"
	exit $rc
}

wait_for() { # seconds description command...
	local n=$(($1 * 10)) what=$2 i
	shift 2
	for i in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	die "timed out waiting for $what"
}

listening() { # port...: every port has a TCP listener on 127.0.0.1
	local p have
	have=$(ss -ltnH)
	for p; do grep -q "127.0.0.1:$p " <<<"$have" || return 1; done
}

alive() { [ -n "$(starttime "$1")" ]; }

inner() {
	echo $$ >"$STATE/inner.pid"
	trap inner_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT

	# Loopback only, or nothing at all.
	ip link set lo up
	local others
	others=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -vx lo || true)
	[ -z "$others" ] || die "refusing to run: the namespace has interfaces besides lo: $others"
	ip -o -4 addr show dev lo | grep -q ' 127\.0\.0\.1/' || die "lo has no 127.0.0.1"

	# The resolver is the fake DNS server; the host's resolv.conf is untouched
	# (this mount namespace is private).
	printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:2\n' >"$STATE/resolv.conf"
	if [ -e /etc/resolv.conf ]; then
		mount --bind "$STATE/resolv.conf" /etc/resolv.conf
	fi
	if [ -e /etc/resolv.conf ] && [ "$(grep -v '^options' /etc/resolv.conf)" != "nameserver 127.0.0.1" ]; then
		die "could not point /etc/resolv.conf at 127.0.0.1 inside the namespace"
	fi

	rm -f "$STATE/dns.ready" "$STATE/peers.ready"
	"$PY" "$HERE/fakedns.py" --log "$OUT/dns.log" --ready "$STATE/dns.ready" </dev/null >>"$OUT/helpers.err" 2>&1 9>&- &
	record $! dns
	"$PY" "$HERE/peers.py" --peers "$HERE/peers.tsv" --scenarios "$HERE/scenarios.tsv" \
		--log "$OUT/peers.log" --ready "$STATE/peers.ready" </dev/null >>"$OUT/helpers.err" 2>&1 9>&- &
	record $! peers
	wait_for 10 "the fake DNS server" test -f "$STATE/dns.ready"
	wait_for 10 "the SMTP peers" test -f "$STATE/peers.ready"

	local during_pid=
	if [ ${#DURING[@]} -gt 0 ]; then
		say "starting during-command: ${DURING[*]}"
		"${DURING[@]}" </dev/null >"$OUT/during.stdout" 2>"$OUT/during.stderr" 9>&- &
		during_pid=$!
		record "$during_pid" during
	fi

	say "starting Postfix (postfix and postfix-out)"
	postfix start >"$OUT/postfix-start.txt" 2>&1 9>&- || { cat "$OUT/postfix-start.txt" >&2; die "postfix start failed"; }
	wait_for 20 "Postfix to listen on 127.0.0.1:25, :10025, :10026" listening 25 10025 10026

	say "submitting the scenarios"
	run_bg "$PY" "$HERE/drive.py" submit "$HERE/scenarios.tsv" >"$OUT/submit.txt" 2>&1 ||
		say "some submissions did not go as expected (see submit.txt)"
	say "waiting for every scenario to reach its final state (about 45 s: the queue expiry comes last)"
	run_bg "$PY" "$HERE/drive.py" watch "$HERE/scenarios.tsv" "$LOG" --deadline 100 >"$OUT/watch.txt" 2>&1 || true
	cat "$OUT/watch.txt" >&2

	run_bg "$PY" "$HERE/drive.py" capture "$OUT" >&2 || say "postqueue -j and -p never agreed"
	say "stopping Postfix"
	stop_postfix
	cp "$LOG" "$OUT/mail.log"
	chmod 0644 "$OUT/mail.log"

	if [ -n "$during_pid" ]; then
		if ! alive "$during_pid"; then
			local rc=0
			wait "$during_pid" || rc=$?
			echo "exited early with status $rc" >"$OUT/during.status"
		else
			if [ -n "$METRICS" ]; then
				run_bg "$PY" "$HERE/drive.py" metrics "$METRICS" "$OUT/mail.log" "$OUT/during.metrics" >&2 || true
			fi
			kill -TERM "$during_pid" 2>/dev/null || true
			local i rc=0
			for i in $(seq 100); do alive "$during_pid" || break; sleep 0.1; done
			if alive "$during_pid"; then
				kill -KILL "$during_pid" 2>/dev/null || true
				wait "$during_pid" 2>/dev/null || true
				echo "killed: still running 10 s after SIGTERM" >"$OUT/during.status"
			else
				wait "$during_pid" || rc=$?
				echo "stopped by SIGTERM, exit status $rc" >"$OUT/during.status"
			fi
		fi
		rm -f "$STATE/during.pid"
	fi
	kill_recorded peers
	kill_recorded dns
}

if [ "$INNER" = 1 ]; then
	inner
	exit 0
fi

# =============================================================================
# Outer part: packages, configuration, then the namespace.
# =============================================================================

[ "$(id -u)" = 0 ] || die "must run as root (it installs and configures Postfix)"
command -v flock >/dev/null && command -v unshare >/dev/null || die "util-linux (flock, unshare) is missing"
START=$(date +%s)
mkdir -p "$OUT" "$STATE"
OUT=$(cd "$OUT" && pwd)
exec 9>"$STATE/lock"
# Runs are serialised: they share /etc/postfix and the ports.
if ! flock -n 9; then
	say "another run.sh is running; waiting for it (at most 10 minutes)"
	flock -w 600 9 || die "another run.sh still holds $STATE/lock after 10 minutes"
fi

outer_cleanup() {
	local rc=$?
	trap '' INT TERM
	trap - EXIT
	if [ -n "${UNSHARE_PID:-}" ]; then
		local ipid
		ipid=$(cat "$STATE/inner.pid" 2>/dev/null || true)
		[ -n "$ipid" ] && kill -TERM "$ipid" 2>/dev/null || true
		wait "$UNSHARE_PID" 2>/dev/null || true
	fi
	# Safety net for an inner part that died without cleaning up.
	stop_postfix
	kill_recorded during
	kill_recorded peers
	kill_recorded dns
	exit $rc
}
trap outer_cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

# A run that crashed (SIGKILL) may have left Postfix or helpers behind.
stop_postfix
kill_recorded during
kill_recorded peers
kill_recorded dns

# --- packages ------------------------------------------------------------------
INSTALLED_POSTFIX=0
need=()
[ -x /usr/sbin/postfix ] && [ -x /usr/sbin/postconf ] && [ -x /usr/sbin/postmulti ] || need+=(postfix)
command -v ip >/dev/null && command -v ss >/dev/null || need+=(iproute2)
[ -x "$PY" ] || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	command -v apt-get >/dev/null || die "missing ${need[*]}, and no apt-get to install them"
	say "installing ${need[*]} with apt-get"
	if [[ " ${need[*]} " == *" postfix "* ]]; then
		printf '%s\n' 'postfix postfix/main_mailer_type select Local only' \
			'postfix postfix/mailname string mail.test.local' | debconf-set-selections
		INSTALLED_POSTFIX=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q "${need[@]}"; } >"$STATE/apt.log" 2>&1 9>&- ||
		{ tail -n 20 "$STATE/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
fi

if ! grep -qxF "$MARK" /etc/postfix/main.cf; then
	if [ "$INSTALLED_POSTFIX" = 1 ] || [ "${PFDIAG_E2E_TAKEOVER:-}" = 1 ] || [ "${CI:-}" = true ]; then
		sed -i "1i $MARK" /etc/postfix/main.cf
	else
		die "refusing to reconfigure the Postfix in /etc/postfix: this harness did not set it up (no marker line in main.cf). On a throwaway machine, set PFDIAG_E2E_TAKEOVER=1."
	fi
fi

# --- configuration ---------------------------------------------------------------
say "configuring Postfix (long queue IDs: $LONG)"
for u in mailtest localuser fulluser; do
	id -u "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"
done
grep -q '^root:' /etc/aliases 2>/dev/null || echo 'root: mailtest' >>/etc/aliases

mkdir -p "$LOGDIR"
chmod 0755 "$LOGDIR"
# postsuper writes to maillog_file itself while Postfix is down, as the
# postfix user: the file must be writable by it.
[ -f "$LOG" ] || install -m 0640 -o postfix -g adm /dev/null "$LOG"

cat >/etc/postfix/header_checks <<'EOF'
/^Subject: \[HOLD\]/ HOLD quarantined by test content policy
EOF
# delay_warning_time = 30s with the built-in template logs "zero result in
# delay template conversion" warnings: use seconds.
cat >/etc/postfix/bounce.cf <<'BOUNCE'
delay_template = <<EOF
Charset: us-ascii
From: MAILER-DAEMON (Mail Delivery System)
Subject: Delayed Mail (still being retried)
Postmaster-Subject: Postmaster Warning: Delayed Mail

This is the mail system at host $myhostname.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

Your message could not be delivered for more than $delay_warning_time_seconds second(s).
It will be retried until it is $maximal_queue_lifetime_days day(s) old.

The mail system
EOF
BOUNCE
"$PY" "$HERE/drive.py" transport "$HERE/peers.tsv" >/etc/postfix/transport
postmap /etc/postfix/transport

postconf -e \
	"myhostname = mail.test.local" \
	"myorigin = \$myhostname" \
	"mydestination = \$myhostname, localhost.\$mydomain, localhost" \
	"inet_interfaces = loopback-only" \
	"inet_protocols = ipv4" \
	"relayhost =" \
	"default_transport = smtp" \
	"relay_transport = relay" \
	"transport_maps = hash:/etc/postfix/transport" \
	"header_checks = regexp:/etc/postfix/header_checks" \
	"alias_maps = hash:/etc/aliases" \
	"alias_database = hash:/etc/aliases" \
	"maillog_file = $LOG" \
	"queue_run_delay = 10s" \
	"minimal_backoff_time = 10s" \
	"maximal_backoff_time = 20s" \
	"smtp_connect_timeout = 5s" \
	"smtp_helo_timeout = 5s" \
	"delay_warning_time = 30s" \
	"bounce_template_file = /etc/postfix/bounce.cf" \
	"message_size_limit = 100000" \
	"mailbox_size_limit = 1000000" \
	"enable_long_queue_ids = $LONG"
# The postfix-out instance relays its bounces back through this smtpd (a
# relayhost on port 25 would be "mail for 127.0.0.1 loops back to myself").
postconf -M "127.0.0.1:10026/inet = 127.0.0.1:10026 inet n - n - - smtpd"
# A local hop that fails: a pipe to /bin/false.
postconf -M "failpipe/unix = failpipe unix - n n - - pipe flags=q user=nobody argv=/bin/false"
# Debian chroots the daemons, but only its init script copies resolv.conf and
# friends into the chroot; postfix start does not.
postconf -F '*/*/chroot = n'
newaliases

# Second instance: postfix-out, with maximal_queue_lifetime = 30s.
[ "$(postconf -h multi_instance_enable)" = yes ] || postmulti -e init
if ! postmulti -l | awk '{print $1}' | grep -qx postfix-out; then
	if [ -f "$OUTCONF/main.cf" ]; then
		postmulti -I postfix-out -G mta -e import config_directory="$OUTCONF"
	else
		postmulti -I postfix-out -G mta -e create
	fi
fi
postmulti -i postfix-out -e enable
printf 'viaout.test\tsmtp:[127.0.0.1]:2526\n' >"$OUTCONF/transport"
postmap "$OUTCONF/transport"
postconf -c "$OUTCONF" -e \
	"master_service_disable =" \
	"authorized_submit_users = static:anyone" \
	"myhostname = mail.out.test.local" \
	"mydestination =" \
	"inet_interfaces = loopback-only" \
	"inet_protocols = ipv4" \
	"relayhost = [127.0.0.1]:10026" \
	"default_transport = smtp" \
	"relay_transport = relay" \
	"transport_maps = hash:$OUTCONF/transport" \
	"alias_maps = hash:/etc/aliases" \
	"alias_database = hash:/etc/aliases" \
	"maillog_file = $LOG" \
	"queue_run_delay = 10s" \
	"minimal_backoff_time = 10s" \
	"maximal_backoff_time = 20s" \
	"maximal_queue_lifetime = 30s" \
	"bounce_queue_lifetime = 30s" \
	"enable_long_queue_ids = $LONG"
if [ -n "$(postconf -c "$OUTCONF" -M smtp/inet 2>/dev/null)" ]; then
	postconf -c "$OUTCONF" -M# smtp/inet
fi
postconf -c "$OUTCONF" -M "127.0.0.1:10025/inet = 127.0.0.1:10025 inet n - n - - smtpd"
postconf -c "$OUTCONF" -F '*/*/chroot = n'

# --- a clean start ------------------------------------------------------------------
postsuper -d ALL >/dev/null 2>&1 || true
postsuper -c "$OUTCONF" -d ALL >/dev/null 2>&1 || true
for u in mailtest localuser; do
	if [ -f "/var/mail/$u" ]; then : >"/var/mail/$u"; fi
done
# fulluser's mailbox is just under mailbox_size_limit: the next message does
# not fit ("File too large").
"$PY" - <<'EOF'
hdr = "From mailtest@mail.test.local  Mon Nov 30 07:00:00 2026\nSubject: filler\n\n"
line = "x" * 75 + "\n"
with open("/var/mail/fulluser", "w") as f:
    f.write(hdr + line * ((999_800 - len(hdr)) // len(line)) + "\n")
EOF
chown fulluser:mail /var/mail/fulluser
chmod 0660 /var/mail/fulluser
rm -f "$LOG"
install -m 0640 -o postfix -g adm /dev/null "$LOG"
rm -f "$OUT"/{mail.log,postqueue.json,postqueue.txt,postqueue-out.json,expected.tsv,observed.tsv,selfcheck.txt} \
	"$OUT"/{dns.log,peers.log,helpers.err,during.stdout,during.stderr,during.status,during.metrics,submit.txt,watch.txt}
say "configured in $(($(date +%s) - START)) s"

# --- the scenarios, in their own namespaces -------------------------------------------
args=(--inner)
[ -n "$METRICS" ] && args+=(--during-metrics "$METRICS")
args+=("$OUT")
[ ${#DURING[@]} -gt 0 ] && args+=(-- "${DURING[@]}")
rm -f "$STATE/inner.pid"
unshare --net --mount --propagation private --fork --kill-child=SIGTERM \
	/bin/bash "$HERE/run.sh" "${args[@]}" 9>&- &
UNSHARE_PID=$!
inner_rc=0
wait "$UNSHARE_PID" || inner_rc=$?
UNSHARE_PID=

cat >"$OUT/README.md" <<EOF
# pfdiag end-to-end run

Written by testdata/e2e/run.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ) with Postfix $(postconf -h mail_version)
($(dpkg-query -W -f '${Package} ${Version}' postfix 2>/dev/null || echo unknown package)),
enable_long_queue_ids = $LONG. Every line of mail.log was written by Postfix (maillog_file);
scenarios and peers: testdata/e2e/scenarios.tsv and peers.tsv.
EOF

set +e
"$PY" "$HERE/drive.py" check "$HERE/scenarios.tsv" "$OUT/mail.log" "$OUT" | tee "$OUT/selfcheck.txt"
check_rc=${PIPESTATUS[0]}
set -e
say "done in $(($(date +%s) - START)) s"
if [ "$inner_rc" != 0 ]; then
	die "the scenario run failed (exit status $inner_rc)"
fi
exit "$check_rc"
