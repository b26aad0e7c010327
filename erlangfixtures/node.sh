#!/bin/sh
# node.sh — entry point and epmd control inside an erlangfixtures container.
# Copied to /opt/chaos-epmd/node.sh by the Go fixture; POSIX sh, no tools beyond
# coreutils and awk, so it runs in the minbase images and in official erlang ones.
#
#   node.sh boot ERL-ARGV...      start epmd as $CHAOS_EPMD_MODE says (sidecar: wait for the
#                                 sidecar's chaos-epmd to listen), then exec ERL-ARGV
#   node.sh start-epmd MODE       start epmd (MODE c|chaos) with $CHAOS_EPMD_ARGS
#                                 (newline-separated), wait until it listens
#   node.sh kill-epmd [SIGNAL]    kill every epmd/chaos-epmd process (default KILL), wait until gone
#   node.sh install-chaos         install chaos-epmd as the epmd that erl auto-starts
#   node.sh epmd-info             one line per running epmd: PID<TAB>chaos|c<TAB>EXE<TAB>ARGS
#
# Environment: CHAOS_EPMD_MODE    c | chaos (started here) | sidecar (chaos-epmd in a container
#                                 sharing this one's network and pids) | auto | auto-chaos (erl
#                                 starts epmd itself; auto-chaos first installs chaos-epmd as it) | none
#              CHAOS_EPMD_ARGS    epmd arguments, one per line
#              CHAOS_EPMD_PORT    the port epmd listens on (to wait for it)
#              CHAOS_EPMD_WAIT    seconds to wait for a sidecar's chaos-epmd (default 60)
# Arguments of erl and epmd may contain %CONTAINER_IP%, replaced by this container's address.
set -eu

D=/opt/chaos-epmd
CHAOS=$D/chaos-epmd

say() { printf 'node.sh: %s\n' "$*" >&2; }

# to_log: where background daemons write, so their output lands in the container log.
to_log() {
	if [ -w /proc/1/fd/1 ]; then echo /proc/1/fd/1; else echo /dev/null; fi
}

listening() { # PORT: is something listening on TCP PORT (IPv4 or IPv6)?
	awk -v p="$(printf '%04X' "$1")" '
		FNR > 1 { split($2, a, ":"); if (a[length(a)] == p && $4 == "0A") found = 1 }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

wait_listening() { # PORT PID
	i=0
	while ! listening "$1"; do
		if ! kill -0 "$2" 2>/dev/null; then
			say "epmd (pid $2) exited before listening on port $1"
			return 1
		fi
		i=$((i + 1))
		if [ "$i" -gt 500 ]; then
			say "epmd (pid $2) not listening on port $1 after 10s"
			return 1
		fi
		sleep 0.02
	done
}

wait_sidecar() { # PORT SECONDS: wait for the sidecar's chaos-epmd, started from outside
	i=0
	while ! listening "$1"; do
		i=$((i + 1))
		if [ "$i" -gt $(($2 * 50)) ]; then
			say "no chaos-epmd sidecar listening on port $1 after ${2}s"
			return 1
		fi
		sleep 0.02
	done
	say "chaos-epmd sidecar listening on port $1"
}

start_epmd() { # MODE
	case $1 in
	c) prog=epmd ;;
	chaos) prog=$CHAOS ;;
	*) say "start-epmd: unknown mode '$1' (want c or chaos)"; return 2 ;;
	esac
	set --
	while IFS= read -r a; do
		case $a in
		*%CONTAINER_IP%*) a=$(printf '%s' "$a" | sed "s/%CONTAINER_IP%/$(container_ip)/g") ;;
		esac
		[ -n "$a" ] && set -- "$@" "$a"
	done <<EOF
${CHAOS_EPMD_ARGS:-}
EOF
	say "starting $prog $*"
	log=$(to_log)
	"$prog" "$@" >>"$log" 2>&1 </dev/null &
	pid=$!
	mkdir -p /run/chaos-epmd
	echo "$pid" >/run/chaos-epmd/epmd.pid
	wait_listening "${CHAOS_EPMD_PORT:-4369}" "$pid"
}

epmd_pids() {
	for p in /proc/[0-9]*; do
		# /proc/PID/stat: pid (comm) state ...
		read -r _ comm state _ <"$p/stat" 2>/dev/null || continue
		case "$comm $state" in
		"(epmd) Z" | "(chaos-epmd) Z") ;;
		"(epmd) "* | "(chaos-epmd) "*) echo "${p#/proc/}" ;;
		esac
	done
}

kill_epmd() { # [SIGNAL]
	pids=$(epmd_pids)
	if [ -z "$pids" ]; then
		say "kill-epmd: no epmd process"
		return 1
	fi
	# shellcheck disable=SC2086
	kill -"${1:-KILL}" $pids
	i=0
	while [ -n "$(epmd_pids)" ]; do
		i=$((i + 1))
		if [ "$i" -gt 500 ]; then
			say "kill-epmd: still running after 10s: $(epmd_pids)"
			return 1
		fi
		sleep 0.02
	done
	say "killed epmd ($pids)"
}

install_chaos() {
	erl=$(command -v erl) || { say "install-chaos: no erl on PATH"; return 1; }
	root=$(dirname "$(dirname "$(readlink -f "$erl")")")
	n=0
	for bin in "$root"/erts-*/bin "$root"/bin; do
		# Replace real files only; links (bin/epmd, /usr/bin/epmd) follow.
		if [ -f "$bin/epmd" ] && [ ! -L "$bin/epmd" ]; then
			cp "$CHAOS" "$bin/epmd.chaos-epmd" && mv -f "$bin/epmd.chaos-epmd" "$bin/epmd"
			n=$((n + 1))
			say "installed chaos-epmd as $bin/epmd"
		fi
	done
	[ "$n" -gt 0 ] || { say "install-chaos: no epmd under $root"; return 1; }
}

epmd_info() {
	for pid in $(epmd_pids); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null || echo "?")
		kind=c
		# chaos-epmd is a Go binary, whatever its file name.
		if grep -q 'Go buildinf:' "/proc/$pid/exe" 2>/dev/null; then kind=chaos; fi
		args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		printf '%s\t%s\t%s\t%s\n' "$pid" "$kind" "$exe" "${args% }"
	done
}

container_ip() {
	awk -v h="$(cat /etc/hostname)" '$0 !~ /^#/ && $2 == h { print $1; exit }' /etc/hosts
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
boot)
	case ${CHAOS_EPMD_MODE:-c} in
	c | chaos) start_epmd "$CHAOS_EPMD_MODE" ;;
	sidecar) wait_sidecar "${CHAOS_EPMD_PORT:-4369}" "${CHAOS_EPMD_WAIT:-60}" ;;
	auto-chaos) install_chaos ;;
	auto | none) ;;
	*) say "unknown CHAOS_EPMD_MODE '$CHAOS_EPMD_MODE'"; exit 2 ;;
	esac
	ip=""
	n=$#
	while [ "$n" -gt 0 ]; do
		a=$1
		shift
		case $a in
		*%CONTAINER_IP%*)
			[ -n "$ip" ] || ip=$(container_ip)
			a=$(printf '%s' "$a" | sed "s/%CONTAINER_IP%/$ip/g")
			;;
		esac
		set -- "$@" "$a"
		n=$((n - 1))
	done
	exec "$@"
	;;
start-epmd) start_epmd "${1:-c}" ;;
kill-epmd) kill_epmd "${1:-KILL}" ;;
install-chaos) install_chaos ;;
epmd-info) epmd_info ;;
*)
	say "usage: node.sh boot ERL-ARGV... | start-epmd c|chaos | kill-epmd [SIGNAL] | install-chaos | epmd-info"
	exit 2
	;;
esac
