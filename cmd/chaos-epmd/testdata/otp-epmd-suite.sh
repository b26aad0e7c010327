#!/usr/bin/env bash
# otp-epmd-suite.sh EPMD_BINARY
#
# Runs OTP's own erts/epmd/test/epmd_SUITE.erl, taken from Debian's source
# package of the installed Erlang, against EPMD_BINARY (the C epmd or
# chaos-epmd) with common_test's ct_run.
#
# The suite is fetched at run time and cached under .cache/otp-epmd-suite/
# (gitignored); it is never committed. Fetching needs root the first time:
# a deb-src entry is derived from the machine's own apt sources when none
# exists, then `apt-get update` and `apt-get source --download-only erlang`.
#
# The suite finds epmd with os:find_executable("epmd"), that is on the
# emulator's PATH. erlexec puts the erts bin directory (with the C epmd) first
# on PATH, so `-env PATH` (applied by erlexec after that) puts a directory
# with an `epmd` wrapper first again. The wrapper logs each invocation and
# execs EPMD_BINARY; a run in which the suite never called it fails. The suite
# starts the server as `epmd -packet_timeout 1 -port 2243 ...`, runs
# `epmd ... -names`, and stops the server with KILL_REQ.
#
# Prints the cases that did not pass and one summary line:
#   otp-epmd-suite: PASSED|FAILED: N passed, N failed, N skipped (of N) in Ns [binary, started N times]
# and, last, the plain line "epmd_SUITE: N passed, N failed, N skipped"
# and exits non-zero when a case failed or the suite did not run. Runs are
# serialised with a lock (the suite always uses port 2243).
#
# Environment: OTP_SUITE_CACHE overrides the cache directory.
set -euo pipefail

prog=otp-epmd-suite
die() { echo "$prog: $*" >&2; exit 2; }

[ $# -eq 1 ] || die "usage: $0 EPMD_BINARY"
bin=$1
[ -x "$bin" ] && [ -f "$bin" ] || die "$bin: not an executable file"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cache=${OTP_SUITE_CACHE:-$root/.cache/otp-epmd-suite}
suite_port=2243 # -define(PORT,2243) in epmd_SUITE.erl

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- Erlang, common_test, and ct.hrl (erlang-dev) ---------------------------
if ! command -v ct_run >/dev/null || ! command -v erlc >/dev/null ||
	! compgen -G '/usr/lib/erlang/lib/common_test-*/include/ct.hrl' >/dev/null; then
	echo "$prog: installing erlang-base erlang-common-test erlang-dev" >&2
	as_root apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		erlang-base erlang-common-test erlang-dev >/dev/null
fi
version=$(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null) ||
	die "erlang-base is not installed as a Debian package"
upstream=${version#*:}
upstream=${upstream%%-*}     # 25.2.3+dfsg
dir=$cache/$upstream
suite=$dir/epmd_SUITE.erl
hook=$dir/ts_install_cth.erl # the suite's ct_hook; Debian does not ship it

# --- fetch the suite (once per Erlang version) -------------------------------
has_deb_src() {
	grep -qsE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
		grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}

add_deb_src() {
	local src=/etc/apt/sources.list.d/debian.sources
	if [ -f "$src" ]; then
		# Every deb stanza again, as deb-src; blank-line separated paragraphs.
		awk 'BEGIN { RS = ""; ORS = "\n\n" }
		     /(^|\n)Types:[^\n]*deb/ { sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$src" |
			as_root tee /etc/apt/sources.list.d/chaos-epmd-deb-src.sources >/dev/null
	elif [ -f /etc/apt/sources.list ]; then
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list |
			as_root tee /etc/apt/sources.list.d/chaos-epmd-deb-src.list >/dev/null
	else
		die "no apt source configuration to derive a deb-src entry from"
	fi
}

fetch_suite() {
	echo "$prog: fetching epmd_SUITE.erl from Debian source package erlang=$version" >&2
	if ! apt-cache showsrc "erlang=$version" 2>/dev/null | grep -q '^Package: erlang'; then
		has_deb_src || add_deb_src
		as_root apt-get update -q >/dev/null
	fi
	local tmp
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	chmod 755 "$tmp" # lets apt's sandbox user write there
	(cd "$tmp" && apt-get source --download-only -q "erlang=$version" >/dev/null 2>&1) ||
		die "apt-get source --download-only erlang=$version failed"
	local orig deb
	orig=$(ls "$tmp"/erlang_*.orig.tar.* | head -n1)
	deb=$(ls "$tmp"/erlang_*.debian.tar.* | head -n1)
	mkdir -p "$tmp/src"
	tar -xf "$orig" -C "$tmp/src" --strip-components=1 --wildcards \
		'*/erts/epmd/test/epmd_SUITE.erl' '*/lib/common_test/test_server/ts_install_cth.erl'
	# Apply the Debian patches that touch these files (none in 25.2.3+dfsg-1).
	tar -xf "$deb" -C "$tmp/src"
	local p
	if [ -f "$tmp/src/debian/patches/series" ]; then
		while read -r p _; do
			case $p in '' | '#'*) continue ;; esac
			if grep -qE '^\+\+\+ .*(erts/epmd/test/epmd_SUITE\.erl|ts_install_cth\.erl)' "$tmp/src/debian/patches/$p"; then
				(cd "$tmp/src" && patch -s -p1 <"debian/patches/$p")
			fi
		done <"$tmp/src/debian/patches/series"
	fi
	mkdir -p "$dir"
	cp "$tmp/src/erts/epmd/test/epmd_SUITE.erl" "$suite.tmp"
	cp "$tmp/src/lib/common_test/test_server/ts_install_cth.erl" "$hook"
	mv "$suite.tmp" "$suite"
}

[ -s "$suite" ] && [ -s "$hook" ] || fetch_suite

# --- run -------------------------------------------------------------------
mkdir -p "$cache"
exec 9>"$cache/run.lock"
flock 9 || die "cannot lock $cache/run.lock"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/${1:-$suite_port}") 2>/dev/null; }
port_in_use && die "port $suite_port is in use: the suite would talk to that server, not to $bin"
# The suite's distributed nodes make erlexec start the C epmd as a daemon on
# 4369, which outlives the run; it is stopped afterwards unless an epmd
# answered there before.
epmd_before=0
port_in_use 4369 && epmd_before=1

run=$cache/run
rm -rf "$run"
mkdir -p "$run/bin" "$run/ebin" "$run/logs" "$run/suite"
calls=$run/epmd-invocations.log
: >"$calls"
cat >"$run/bin/epmd" <<EOF
#!/bin/sh
echo "\$*" >>'$calls'
exec '$bin' "\$@"
EOF
chmod +x "$run/bin/epmd"
cp "$suite" "$run/suite/"
erlc -o "$run/ebin" "$hook"

unset ERL_EPMD_PORT ERL_EPMD_ADDRESS ERL_EPMD_RELAXED_COMMAND_CHECK
start=$(date +%s)
set +e
(cd "$run" && ct_run -noshell -pa "$run/ebin" \
	-dir "$run/suite" -suite epmd_SUITE -logdir "$run/logs" \
	-erl_args -env PATH "$run/bin:$PATH") >"$run/ct_run.out" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - start))

# A server the suite left behind would answer the next run.
if port_in_use; then
	"$bin" -port "$suite_port" -kill >/dev/null 2>&1 || true
fi
# The epmd the suite's nodes started on 4369: a KILL request, which an epmd
# refuses while nodes are registered (ERL_EPMD_RELAXED_COMMAND_CHECK is unset).
if [ "$epmd_before" = 0 ] && port_in_use 4369; then
	if ! out=$("$bin" -port 4369 -kill 2>&1) || [ "$out" != Killed ]; then
		echo "$prog: the epmd the suite started on port 4369 is still running: $out" >&2
	fi
fi

summary=$(grep -E 'TEST COMPLETE' "$run/ct_run.out" | tail -n1 || true)
num() { sed -nE "s/.* ([0-9]+) $1.*/\1/p" <<<"$summary" | head -n1; }
ok=$(num ok); ok=${ok:-0}
failed=$(num failed); failed=${failed:-0}
skipped=0
if [[ $summary =~ ([0-9]+)\ \(([0-9]+),\ ([0-9]+)\)\ skipped ]]; then
	skipped=${BASH_REMATCH[1]}
elif [[ $summary =~ ([0-9]+)\ skipped ]]; then
	skipped=${BASH_REMATCH[1]}
fi
total=$(sed -nE 's/.* of ([0-9]+) test cases.*/\1/p' <<<"$summary")
total=${total:-$((ok + failed + skipped))}

# Name every case that did not pass, from the suite log.
log=$(find "$run/logs" -name suite.log -path '*epmd_SUITE*' | head -n1)
if [ -n "$log" ]; then
	awk '/^=case/ { c = $2 } /^=result/ { sub(/^=result[ \t]+/, ""); if ($0 != "ok" && c !~ /init_per|end_per/) print "  " c ": " $0 }' "$log"
fi

invocations=$(wc -l <"$calls")
status=PASSED
if [ -z "$summary" ] || [ "$failed" -ne 0 ] || [ "$ok" -eq 0 ] || [ "$rc" -gt 1 ]; then
	status=FAILED
	[ -n "$summary" ] || tail -n 30 "$run/ct_run.out"
fi
if [ "$invocations" -eq 0 ]; then
	status=FAILED
	echo "$prog: the suite never started $bin (it found another epmd on its PATH)"
fi
echo "$prog: $status: $ok passed, $failed failed, $skipped skipped (of $total) in ${elapsed}s [$bin, started $invocations times]"
echo "$prog: logs in $run/logs (ct_run output: $run/ct_run.out)"
# Last, the plain closing line test runners are read by.
echo "epmd_SUITE: $ok passed, $failed failed, $skipped skipped"
[ "$status" = PASSED ]
