#!/usr/bin/env bash
# Build the compose stack's images: `make compose-images`.
#
# With a registry (the default, production): Crosswalk's Airflow image on apache/airflow:3.3.2-python3.11 and the
# partner SFTP image on debian:bookworm-slim; postgres:16 and redis:7.2-bookworm are pulled by compose.
# With CROSSWALK_OFFLINE=1 (machines that reach no image registry, such as CI here): every base image is built
# from Debian's packages first: debootstrap a minimal bookworm, `docker import` it, and build stand-ins for
# Debian, PostgreSQL, Redis and Airflow (docker/offline/). The stand-ins' names go to .compose/images.env, which
# `make compose-up` and the compose test read. pip's CA bundle goes in as a build secret, never into a layer.
set -euo pipefail
cd "$(dirname "$0")/.."
# BuildKit through the Docker CLI that has it built in (Debian's docker.io 20.10 needs no buildx plugin).
DOCKER=${DOCKER:-$(command -v /usr/bin/docker || command -v docker)}
export DOCKER_BUILDKIT=1
CA=${CROSSWALK_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -f "$CA" ] && secret=(--secret "id=ca-bundle,src=$CA")
build() {  # build TAG CONTEXT [ARG=VALUE ...]: CONTEXT/Dockerfile, or docker/<name>/Dockerfile from the root
  local tag=$1 file=$2 context=$3; shift 3
  local args=() log=".compose/build-${tag//[\/:]/_}.log" t0=$SECONDS
  for a in "$@"; do args+=(--build-arg "$a"); done
  if ! "$DOCKER" build --progress=plain "${secret[@]}" "${args[@]}" -t "$tag" -f "$file" "$context" >"$log" 2>&1; then
    tail -n 40 "$log"; echo "compose-images: FAILED building $tag (log: $log)"; exit 1
  fi
  echo "compose-images: built $tag in $((SECONDS - t0)) s"
}

mkdir -p .compose
if ! "$DOCKER" info >/dev/null 2>&1; then  # no engine answers: start one (root; vfs needs no overlay filesystem)
  echo "compose-images: starting dockerd --storage-driver=vfs (log: .compose/dockerd.log)"
  setsid dockerd --storage-driver=vfs >>.compose/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { echo "compose-images: FAILED: dockerd did not start"; exit 1; }
fi
if [ "${CROSSWALK_OFFLINE:-0}" = 1 ]; then
  base=crosswalk-offline/debian:bookworm
  if ! "$DOCKER" image inspect "$base" >/dev/null 2>&1; then
    mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    root=$(mktemp -d /var/tmp/crosswalk-debootstrap.XXXXXX)
    chmod 755 "$root"  # the image's / : mktemp makes it 0700, and the airflow user could reach nothing
    trap 'rm -rf "$root"' EXIT
    echo "compose-images: debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
    tar -C "$root" -c . | "$DOCKER" import - "$base" >/dev/null
  fi
  build crosswalk-offline/postgres:15 docker/offline/postgres/Dockerfile docker/offline/postgres "DEBIAN_IMAGE=$base"
  build crosswalk-offline/redis:7 docker/offline/redis/Dockerfile docker/offline/redis "DEBIAN_IMAGE=$base"
  build crosswalk-offline/airflow:3.3.2 docker/offline/airflow/Dockerfile . "DEBIAN_IMAGE=$base"
  cat > .compose/images.env <<ENV
POSTGRES_IMAGE=crosswalk-offline/postgres:15
REDIS_IMAGE=crosswalk-offline/redis:7
AIRFLOW_BASE_IMAGE=crosswalk-offline/airflow:3.3.2
DEBIAN_IMAGE=$base
ENV
else
  : > .compose/images.env
fi
set -a; . .compose/images.env; set +a
build crosswalk-airflow:3.3.2 docker/airflow/Dockerfile . "AIRFLOW_BASE_IMAGE=${AIRFLOW_BASE_IMAGE:-apache/airflow:3.3.2-python3.11}"
build crosswalk-sftp:bookworm docker/sftp/Dockerfile docker/sftp "DEBIAN_IMAGE=${DEBIAN_IMAGE:-debian:bookworm-slim}"
echo "compose-images: done ($("$DOCKER" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^crosswalk' | tr '\n' ';'))"
