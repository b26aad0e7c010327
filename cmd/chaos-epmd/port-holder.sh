#!/bin/sh
# port-holder.sh PORT [ARGS...] — the check `make run` does before it starts
# chaos-epmd with ARGS on PORT.
#
# chaos-epmd, like the C epmd, exits 0 without a word when another process
# already listens on its port: right when erl starts it (an epmd is running,
# all is well), baffling at a terminal. This script says who holds the port
# and exits 1; it exits 0, silently, when the port is free or when ARGS do not
# start a server. It reads /proc (Linux; this network namespace), so it needs
# neither ss nor lsof; another user's process shows as "not visible" unless
# run as root.
set -eu

port=$1
shift
# The port chaos-epmd will take: the last -port in ARGS wins, as in epmd.
while [ $# -gt 0 ]; do
	case $1 in
	-port)
		if [ $# -ge 2 ]; then port=$2; shift; fi ;;
	-names | -started | -dump | -kill | -stop | -systemd | -h | -help | --help | -version)
		exit 0 ;; # a client command, or sockets from systemd: no port taken here
	-takeover)
		exit 0 ;; # chaos-epmd replaces the holder itself, or refuses saying why
	-address | -packet_timeout | -delay_accept | -delay_write | -fault | -faults-file | -seed | -admin | -admin-token | -log-format | -max-fault-for | -for)
		if [ $# -ge 2 ]; then shift; fi ;;
	esac
	shift
done
case $port in
'' | *[!0-9]*) exit 0 ;; # not a plain number: chaos-epmd itself says what is wrong
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then exit 0; fi

hex=$(printf '%04X' "$port")
# Listening sockets (state 0A) on the port, IPv4 and IPv6: their inodes.
inodes=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' \
	/proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)
[ -n "$inodes" ] || exit 0

holders=""
for inode in $inodes; do
	for fd in $(find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null); do
		pid=${fd#/proc/}
		pid=${pid%%/*}
		case " $holders " in *" $pid "*) continue ;; esac
		holders="$holders $pid"
	done
done

if [ -z "$holders" ]; then
	echo "make run: port $port is held by a process not visible here (another user's; as root: ss -ltnp 'sport = :$port'); stop it or set PORT=..." >&2
	exit 1
fi
names=""
for pid in $holders; do
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ *$//') || cmd=""
	[ -n "$cmd" ] || cmd="?"
	names="${names:+$names, }pid $pid ($cmd)"
done
echo "make run: port $port is held by $names; stop it or set PORT=..." >&2
exit 1
