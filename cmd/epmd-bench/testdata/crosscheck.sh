#!/bin/bash
# crosscheck.sh CLIENT NAME=COMMAND...
#
# Starts each server COMMAND (its port from its -port flag), waits until it
# accepts connections, has CLIENT (crosscheck.c, built) compare them on
# PORT_PLEASE2 and then on churn, in the order given (the first is the
# reference of the ratios), and stops them. CROSSCHECKFLAGS: the client's
# own flags (-rounds, -n, -procs, -hold).
set -euo pipefail
client=$1
shift
# 4 processes holding 1000 nodes and TIME_WAIT sockets: more than 1024.
ulimit -n "$(ulimit -Hn)"
pids=()
targets=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
# answers reports whether a server on 127.0.0.1:$1 replies to a NAMES
# request (an empty connection would make an epmd log a partial packet).
answers() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			printf '\0\001n' >&3 &&
			head -c 4 <&3 | wc -c | grep -qx 4
	) 2>/dev/null
}
for spec in "$@"; do
	name=${spec%%=*}
	cmd=${spec#*=}
	port=$(sed -n 's/.*-port \([0-9][0-9]*\).*/\1/p' <<<"$cmd")
	if [ -z "$port" ] || [ "$name" = "$spec" ]; then
		echo "crosscheck.sh: $spec: expected NAME=COMMAND with -port N in the command" >&2
		exit 2
	fi
	if answers "$port"; then
		echo "crosscheck.sh: $name: port $port already answers; stop that server first" >&2
		exit 1
	fi
	$cmd &
	pids+=($!)
	deadline=$((SECONDS + 10))
	until answers "$port"; do
		if ! kill -0 "${pids[-1]}" 2>/dev/null || ((SECONDS > deadline)); then
			echo "crosscheck.sh: $name ($cmd) is not answering on port $port" >&2
			exit 1
		fi
		sleep 0.1
	done
	targets+=("$name=$port")
done
# shellcheck disable=SC2086 # the flags are words
"$client" ${CROSSCHECKFLAGS:-} pp "${targets[@]}"
# shellcheck disable=SC2086
"$client" ${CROSSCHECKFLAGS:-} churn "${targets[@]}"
