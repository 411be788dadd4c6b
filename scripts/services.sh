#!/usr/bin/env bash
# Makes sure the local PostgreSQL and Redis that the storage suites use are running on
# loopback: starts them when installed but stopped, installs them (Debian packages) when
# missing. Safe to run repeatedly. Never touches anything but 127.0.0.1.
set -uo pipefail

log() { echo "services: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else "$@"; fi
}

apt_updated=0
install() {
  if ! command -v apt-get >/dev/null; then
    log "cannot install $* (no apt-get)"
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then
    as_root apt-get update -qq >/dev/null 2>&1 || true
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_postgres() {
  postgres_up && return 0
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing PostgreSQL"
    install postgresql postgresql-client || return 1
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$version" ]; then
    log "no PostgreSQL cluster found"
    return 1
  fi
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do postgres_up && return 0; sleep 1; done
  log "PostgreSQL did not come up"
  return 1
}

ensure_redis() {
  redis_up && return 0
  if ! command -v redis-server >/dev/null; then
    log "installing Redis"
    install redis-server || return 1
  fi
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do redis_up && return 0; sleep 1; done
  log "Redis did not come up"
  return 1
}

status=0
ensure_postgres || status=1
ensure_redis || status=1
if [ "$status" = 0 ]; then log "PostgreSQL and Redis are up on 127.0.0.1"; fi
exit "$status"
