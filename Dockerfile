# Distillery: REST + MCP + console on one port (`distillery serve`).
#
#   docker build -t distillery:latest .                    # the server (target runtime)
#   docker build -t distillery:local --target local .      # + the local model runtime (llama.cpp; slow build)
#
# Stages: `wheels` makes wheels of the dependencies and of Distillery; `venv` installs them into
# /opt/distillery (a venv without pip); `runtime` is the base image plus that venv, run as an unprivileged user. The
# `local-*` stages do the same for the `local` extra and come last, so a plain build never runs them.
# No secret is baked in: the database URL, keys and passwords come from the environment at run time.
# Offline builds: put wheels in deploy/wheelhouse/ and pass --build-arg PIP_OFFLINE=1.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheels
ARG PIP_OFFLINE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_FIND_LINKS=/wheelhouse
WORKDIR /src
COPY deploy/wheelhouse/ /wheelhouse/
COPY pyproject.toml README.md ./
# The dependencies first, from pyproject.toml alone, so a source change does not fetch them again.
RUN if [ "$PIP_OFFLINE" = 1 ]; then export PIP_NO_INDEX=1; fi \
    && python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['science']))" >requirements.txt \
    && python -m venv /build \
    && /build/bin/pip install --upgrade pip "setuptools>=68" wheel \
    && /build/bin/pip wheel --wheel-dir /wheels -r requirements.txt
COPY toolbox/ toolbox/
COPY registry/ registry/
COPY server/ server/
COPY teacher/ teacher/
COPY student/ student/
RUN /build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM wheels AS venv
# The served venv has no pip: the build's pip installs into it.
RUN python -m venv --without-pip /opt/distillery \
    && /build/bin/pip --python /opt/distillery/bin/python install --no-index --find-links /wheels \
       "distillery[science]"

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="Distillery" \
      org.opencontainers.image.description="Training-free MCP toolbox server and registry"
# One unprivileged user; the uid lock directory of the docker sandbox is a volume shared by replicas.
RUN groupadd --system --gid 10001 distillery \
    && useradd --system --uid 10001 --gid distillery --home-dir /var/lib/distillery --create-home \
       --shell /usr/sbin/nologin distillery \
    && install -d -o distillery -g distillery -m 700 /tmp/distillery-sandbox-uids
COPY --from=venv /opt/distillery /opt/distillery
ENV PATH=/opt/distillery/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DISTILLERY_DATA_DIR=/var/lib/distillery \
    DISTILLERY_SERVER__HOST=0.0.0.0 \
    DISTILLERY_SERVER__PORT=8000
USER 10001:10001
WORKDIR /var/lib/distillery
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DISTILLERY_SERVER__PORT', '8000') + '/health', timeout=4)"]
CMD ["distillery", "serve"]

FROM wheels AS local-wheels
ARG PIP_OFFLINE=0
ARG LLAMA_CPP_VERSION=0.3.36
# A portable build (AVX2, not -march=native): the image may run on another CPU than the one that built it.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN if [ "$PIP_OFFLINE" = 1 ]; then export PIP_NO_INDEX=1; fi \
    && /build/bin/pip wheel --wheel-dir /wheels "llama-cpp-python[server]==${LLAMA_CPP_VERSION}"

FROM venv AS local-venv
ARG LLAMA_CPP_VERSION=0.3.36
COPY --from=local-wheels /wheels /wheels
RUN /build/bin/pip --python /opt/distillery/bin/python install --no-index --find-links /wheels \
    "llama-cpp-python[server]==${LLAMA_CPP_VERSION}"

FROM runtime AS local
USER 0:0
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=local-venv /opt/distillery /opt/distillery
USER 10001:10001
ENV DISTILLERY_LOCAL__HOST=0.0.0.0
EXPOSE 8811
CMD ["distillery", "model", "serve", "qwen2.5-coder-0.5b", "--port", "8811"]
