#!/usr/bin/env bash
# Build, from Debian packages, local stand-ins for the public base images that Dockerfile and
# docker-compose.yml name, under the same names and tags, for machines that cannot pull images:
#   debian:bookworm-slim        a minbase root filesystem made with debootstrap, then `docker import`
#   python:3.11-slim-bookworm   + Debian's python3 (3.11), venv and pip, at /usr/local/bin like the official image
#   postgres:15-bookworm        + Debian's postgresql-15 and an entrypoint with the official image's conventions
#                               (POSTGRES_PASSWORD / _USER / _DB, PGDATA, /docker-entrypoint-initdb.d)
#   nginx:1.22                  + Debian's nginx 1.22, configured from /etc/nginx/conf.d like the official image
# An image that already exists is skipped (pulled or built earlier), so the script is cheap to re-run.
# The Dockerfiles are in deploy/base-images/. Builds use the host's network (`--network host`), and the
# root filesystem gets this machine's apt sources, so apt inside them reaches the same Debian mirror.
# Environment: DEBIAN_MIRROR (default: the first URIs of /etc/apt/sources.list.d/debian.sources, else
# deb.debian.org), FORCE=1 rebuilds every image.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> build-base-images: %s\n' "$*" >&2; }

have() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

mirror() {
    if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    echo "${uri:-http://deb.debian.org/debian}"
}

build_debian() {
    local tag=debian:bookworm-slim
    if have "$tag"; then log "$tag exists"; return; fi
    command -v debootstrap >/dev/null || {
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    local root start=$SECONDS
    root=$(mktemp -d /var/tmp/distillery-rootfs.XXXXXX)
    ROOTFS=$root
    log "debootstrap bookworm (minbase) from $(mirror) into $root"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$(mirror)" >"$root.log" 2>&1 || {
        tail -n 20 "$root.log" >&2; rm -f "$root.log"; return 1; }
    rm -f "$root.log"
    # This machine's apt sources and settings (mirror, snapshot validity), so apt-get works in builds.
    rm -f "$root/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" 2>/dev/null \
        || echo "deb $(mirror) bookworm main" >"$root/etc/apt/sources.list"
    for conf in /etc/apt/apt.conf.d/99*; do [ -f "$conf" ] && cp "$conf" "$root/etc/apt/apt.conf.d/"; done
    # What the official slim image does: no caches, docs or man pages kept by apt.
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
CONF
    echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/log/*.log
    tar --numeric-owner --xattrs -C "$root" -c . | docker import --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag" >/dev/null
    rm -rf "$root"; ROOTFS=""
    log "$tag imported in $((SECONDS - start))s"
}

build_from() {
    local tag=$1 dir=$2 start=$SECONDS
    if have "$tag"; then log "$tag exists"; return; fi
    log "building $tag from deploy/base-images/$dir"
    docker build -q --network host -t "$tag" "deploy/base-images/$dir" >/dev/null
    log "$tag built in $((SECONDS - start))s"
}

ROOTFS=""
trap '[ -z "$ROOTFS" ] || rm -rf "$ROOTFS"' EXIT
docker info >/dev/null 2>&1 || { log "no Docker engine answers (scripts/docker-engine.sh starts one)"; exit 1; }
build_debian
build_from python:3.11-slim-bookworm python
build_from postgres:15-bookworm postgres
build_from nginx:1.22 nginx
