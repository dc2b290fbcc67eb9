#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, for the docker sandbox backend.
#   - `docker info` already works            -> exit 0
#   - dockerd missing                         -> apt-get install docker.io (needs root or sudo)
#   - dockerd present but not running         -> start it in the background, wait for the socket
# Prints one line saying what it did; exits non-zero, saying why, when no engine can be had.
# Environment: DOCKER_ENGINE_LOG (default /var/log/distillery-dockerd.log, or /tmp when not writable),
#              DOCKER_ENGINE_WAIT_S (default 30).
set -uo pipefail

wait_s=${DOCKER_ENGINE_WAIT_S:-30}
pid_file=/var/run/distillery-dockerd.pid

say() { printf 'docker-engine: %s\n' "$*"; }
fail() { printf 'docker-engine: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"; else
        return 126; fi
}

engine_up() {
    if command -v docker >/dev/null; then
        docker info >/dev/null 2>&1
    else
        # No CLI: ask the API on the default socket directly.
        [ -S /var/run/docker.sock ] && curl -fsS --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
    fi
}

if engine_up; then
    say "engine already running"
    exit 0
fi

installed=""
if ! command -v dockerd >/dev/null; then
    command -v apt-get >/dev/null || fail "dockerd is not installed and apt-get is not available to install docker.io"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 \
        || fail "apt-get update failed (no root/sudo or no package mirror); cannot install docker.io"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null 2>&1 \
        || fail "apt-get install docker.io failed; install a Docker engine by hand"
    command -v dockerd >/dev/null || fail "docker.io installed but dockerd is still not on PATH"
    installed="installed docker.io, "
fi

log_file=${DOCKER_ENGINE_LOG:-/var/log/distillery-dockerd.log}
if ! { : >>"$log_file"; } 2>/dev/null; then log_file=/tmp/distillery-dockerd.log; fi

# A previous dockerd of ours may still be starting: do not launch a second one.
if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file" 2>/dev/null)" 2>/dev/null; then
    started_pid=$(cat "$pid_file")
    action="waited for dockerd (pid $started_pid)"
else
    if [ "$(id -u)" = 0 ]; then
        nohup dockerd --pidfile "$pid_file" >>"$log_file" 2>&1 </dev/null &
    else
        as_root true 2>/dev/null || fail "dockerd is not running and starting it needs root (no passwordless sudo)"
        nohup sudo -n dockerd --pidfile "$pid_file" >>"$log_file" 2>&1 </dev/null &
    fi
    started_pid=$!
    action="started dockerd (pid $started_pid, log $log_file)"
fi

deadline=$((SECONDS + wait_s))
while [ "$SECONDS" -lt "$deadline" ]; do
    if engine_up; then
        say "${installed}${action}; engine up after $((SECONDS))s"
        exit 0
    fi
    if ! kill -0 "$started_pid" 2>/dev/null && ! [ -f "$pid_file" ]; then
        fail "dockerd exited during start-up; see $log_file: $(tail -n 3 "$log_file" 2>/dev/null | tr '\n' ' ')"
    fi
    sleep 0.2
done
fail "${action}, but the engine did not answer within ${wait_s}s; see $log_file"
