#!/bin/sh
# hostsetup.sh — make this machine able to run the Erlang fixtures.
#
# Idempotent. When a Docker engine already answers and debootstrap is present it
# does nothing. Otherwise (root on Debian only) it installs Debian's docker.io and
# debootstrap from the machine's configured apt sources, starts dockerd in the
# background and waits until it answers. Nothing is pulled from any registry.
#
# Environment:
#   DOCKERD_LOG          dockerd's log file (default /var/log/dockerd.log)
#   DOCKERD_WAIT_SECONDS how long to wait for the engine (default 60)
set -eu

log() { printf 'hostsetup: %s\n' "$*" >&2; }
die() { printf 'hostsetup: error: %s\n' "$*" >&2; exit 1; }

engine_answers() {
	command -v docker >/dev/null 2>&1 && docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

need_packages=""
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_packages="$need_packages debootstrap"
if ! engine_answers; then
	# The engine, its client (/usr/bin/docker) and docker-init (tini) come with docker.io.
	{ [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ]; } || need_packages="$need_packages docker.io"
	start_engine=yes
else
	start_engine=no
fi

if [ -z "$need_packages" ] && [ "$start_engine" = no ]; then
	log "docker engine $(docker version --format '{{.Server.Version}}') answers; debootstrap present; nothing to do"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	todo=""
	[ -z "$need_packages" ] || todo="install$need_packages"
	if [ "$start_engine" = yes ]; then
		todo="${todo:+$todo and }start dockerd (no Docker engine answers)"
	fi
	die "must run as root to $todo; re-run as root (sudo $0)"
fi
[ -r /etc/debian_version ] && grep -qs '^ID=debian' /etc/os-release ||
	die "this set-up supports Debian only (found: $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null || echo unknown)); install a Docker engine and debootstrap by hand"

if [ -n "$need_packages" ]; then
	log "installing:$need_packages"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || die "apt-get update failed"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need_packages >/dev/null ||
		die "apt-get install$need_packages failed"
fi

if [ "$start_engine" = yes ]; then
	# A dockerd that is still starting has written its pid file; a dead one's
	# leftovers would stop a new one from starting.
	running=no
	if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		running=yes
	else
		rm -f /var/run/docker.pid
	fi
	if [ "$running" = no ]; then
		logfile=${DOCKERD_LOG:-/var/log/dockerd.log}
		log "starting dockerd (log: $logfile)"
		# Containers reach nothing but each other; no registry mirror is configured.
		nohup /usr/sbin/dockerd >>"$logfile" 2>&1 </dev/null &
	fi
	wait_s=${DOCKERD_WAIT_SECONDS:-60}
	i=0
	until /usr/bin/docker version --format '{{.Server.Version}}' >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -le $((wait_s * 5)) ] || die "dockerd did not answer within ${wait_s}s; see ${DOCKERD_LOG:-/var/log/dockerd.log}"
		sleep 0.2
	done
	log "docker engine $(/usr/bin/docker version --format '{{.Server.Version}}') answers"
fi
