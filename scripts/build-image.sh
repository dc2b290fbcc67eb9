#!/usr/bin/env bash
# Build the Distillery image where the build containers cannot reach a package index themselves:
# the host's pip (with its own index, certificates and cache) fills deploy/wheelhouse/ with the
# dependencies' wheels, and `docker build --build-arg PIP_OFFLINE=1` installs from there only.
#   scripts/build-image.sh [TARGET [TAG]]     TARGET runtime (default) or local; TAG default distillery:latest
# The base images come from scripts/build-base-images.sh when they are not there. Where the build can
# reach an index, plain `docker build -t distillery:latest .` (or `docker compose build`) does the same.
# Environment: PYTHON (default .venv/bin/python), WHEEL_CACHE (the cached llama-cpp-python wheel, for local).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> build-image: %s\n' "$*" >&2; }

target=${1:-runtime}
tag=${2:-distillery:latest}
python=${PYTHON:-.venv/bin/python}
wheelhouse=deploy/wheelhouse

bash scripts/build-base-images.sh
start=$SECONDS
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
"$python" -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['science'] + ['pip', 'setuptools>=68', 'wheel']))" \
    >"$requirements"
log "wheels of the dependencies into $wheelhouse"
"$python" -m pip wheel -q --wheel-dir "$wheelhouse" --find-links "$wheelhouse" -r "$requirements" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
if [ "$target" = local ]; then
    cache=${WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/distillery/wheels}
    if compgen -G "$cache/llama_cpp_python-*.whl" >/dev/null; then
        cp -u "$cache"/llama_cpp_python-*.whl "$wheelhouse/"
    fi
    "$python" -m pip wheel -q --wheel-dir "$wheelhouse" --find-links "$wheelhouse" \
        "llama-cpp-python[server]==0.3.36" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
log "wheelhouse ready in $((SECONDS - start))s; docker build --target $target -t $tag"
previous=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
docker build -q --build-arg PIP_OFFLINE=1 --target "$target" -t "$tag" . >/dev/null
log "$tag built in $((SECONDS - start))s"
# The image this tag named before (the build cache stays): a rebuild per commit would pile them up.
if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
fi
