#!/usr/bin/env bash
# Set up and run Distillery on a fresh machine.
#   scripts/dev.sh setup   system packages (bubblewrap) + .venv with the project and its dev tools
#   scripts/dev.sh run     setup, publish the example tools, serve REST + MCP on the embedded default (SQLite)
#   scripts/dev.sh test    setup (+ Chromium), start the services the suite uses, then lint, type-check and test
#   scripts/dev.sh setup-local   the local model runtime (llama.cpp, from a cached wheel) + the small model
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root for: $*"; return 1; fi
}

setup_system() {
    if ! command -v bwrap >/dev/null; then
        log "installing bubblewrap (the sandbox's namespaces)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq bubblewrap >/dev/null
    fi
}

setup_browser() {
    # Headless Chromium and its driver for the console's browser tests (pytest -m browser).
    if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
        log "installing chromium and chromium-driver (the console's browser tests)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    if command -v chromedriver >/dev/null; then
        export DISTILLERY_TEST_BROWSER=required
    fi
}

setup_node_tools() {
    # Node 22, the MCP conformance suite and the Inspector CLI, for the end-to-end tests.
    if [ ! -d tests/e2e/js/node_modules ]; then
        log "installing the Node tools of the end-to-end tests"
        (cd tests/e2e/js && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

setup_venv() {
    if [ ! -x .venv/bin/python ]; then
        log "creating .venv"
        python3 -m venv .venv
    fi
    local stamp=.venv/.distillery-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        log "installing distillery and its dev tools into .venv"
        .venv/bin/pip install -q -e '.[dev]'
        touch "$stamp"
    fi
}

LLAMA_CPP_VERSION=0.3.36
WHEEL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/distillery/wheels"

setup_local() {
    # The `local` extra: llama-cpp-python has no binary wheel here and builds from source in about
    # 6 minutes, so the wheel is built once (portable AVX2, not -march=native) into WHEEL_CACHE and
    # installed from there. Then the 0.5B model the `model`-marked tests run on is pulled.
    if ! .venv/bin/python -c "import llama_cpp, sse_starlette, starlette_context" 2>/dev/null; then
        if ! compgen -G "$WHEEL_CACHE/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl" >/dev/null; then
            log "building the llama-cpp-python $LLAMA_CPP_VERSION wheel into $WHEEL_CACHE (about 6 minutes, once)"
            mkdir -p "$WHEEL_CACHE"
            CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
                .venv/bin/pip wheel -q --no-deps --wheel-dir "$WHEEL_CACHE" "llama-cpp-python==$LLAMA_CPP_VERSION"
        fi
        log "installing the local model runtime from $WHEEL_CACHE"
        .venv/bin/pip install -q --find-links "$WHEEL_CACHE" "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
    fi
    log "pulling the local model qwen2.5-coder-0.5b (a no-op when it is there)"
    .venv/bin/distillery --log-level WARNING model pull qwen2.5-coder-0.5b
}

start_services() {
    # Docker engine for the docker sandbox backend: its tests skip, saying why, only where it cannot start.
    if bash scripts/docker-engine.sh; then
        export DISTILLERY_TEST_DOCKER=required
    else
        log "no Docker engine: the docker sandbox tests will skip"
    fi
    # PostgreSQL for the registry's second backend.
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
        log "starting PostgreSQL"
        as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    if .venv/bin/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test', connect_timeout=5).close()" 2>/dev/null; then
        export DISTILLERY_TEST_POSTGRES=required
    else
        log "PostgreSQL on 127.0.0.1:5432 does not answer: the PostgreSQL half of the registry tests will skip"
    fi
}

setup_compose() {
    # docker-compose and debootstrap for the `compose` test (docker-compose.yml brought up for real; the
    # base images are built from Debian packages by scripts/build-base-images.sh). Needs the engine.
    [ "${DISTILLERY_TEST_DOCKER:-}" = required ] || { log "no Docker engine: the compose test will skip (and fail under CI)"; return 0; }
    if ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
        log "installing docker-compose and debootstrap (the compose test)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker-compose debootstrap >/dev/null
    fi
    export DISTILLERY_TEST_COMPOSE=required
}

cmd=${1:-}
case "$cmd" in
    setup)
        setup_system; setup_venv ;;
    setup-local)
        setup_venv; setup_local ;;
    run)
        setup_system; setup_venv
        for tool in examples/tools/*.py; do
            .venv/bin/distillery tools publish "$tool" --tests "${tool%.py}.tests.json" --namespace examples \
                --activate >/dev/null
        done
        log "serving REST at http://127.0.0.1:8000/api/v1 (docs at /docs) and MCP at http://127.0.0.1:8000/mcp"
        exec .venv/bin/distillery serve ;;
    test)
        setup_system; setup_venv; setup_node_tools; setup_browser; start_services; setup_compose; setup_local
        log "ruff"; .venv/bin/ruff check .
        log "mypy --strict"; .venv/bin/mypy
        log "pytest"; exec .venv/bin/pytest -q -p no:cacheprovider "${@:2}" ;;
    *)
        echo "usage: scripts/dev.sh setup|setup-local|run|test [pytest args]" >&2; exit 2 ;;
esac
