#!/usr/bin/env bash
# Set up and run Distillery on a fresh machine.
#   scripts/dev.sh setup   system packages (bubblewrap) + .venv with the project and its dev tools
#   scripts/dev.sh run     setup, publish the example tools, serve REST + MCP on the embedded default (SQLite)
#   scripts/dev.sh test    setup, start the services the suite uses, then lint, type-check and test
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

cmd=${1:-}
case "$cmd" in
    setup)
        setup_system; setup_venv ;;
    run)
        setup_system; setup_venv
        for tool in examples/tools/*.py; do
            .venv/bin/distillery tools publish "$tool" --tests "${tool%.py}.tests.json" --namespace examples \
                --activate >/dev/null
        done
        log "serving REST at http://127.0.0.1:8000/api/v1 (docs at /docs) and MCP at http://127.0.0.1:8000/mcp"
        exec .venv/bin/distillery serve ;;
    test)
        setup_system; setup_venv; setup_node_tools; start_services
        log "ruff"; .venv/bin/ruff check .
        log "mypy --strict"; .venv/bin/mypy
        log "pytest"; exec .venv/bin/pytest -q -p no:cacheprovider "${@:2}" ;;
    *)
        echo "usage: scripts/dev.sh setup|run|test [pytest args]" >&2; exit 2 ;;
esac
