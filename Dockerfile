# The calculator service image.
#
# Two stages on the same base: "builder" has pip and makes the virtual
# environment, compiles the byte code and proves the app loads; the runtime
# stage receives only the results, so a broken build never produces an image.
#
# BASE_IMAGE is the official image pinned by digest. Where no registry answers,
# deploy/provision/base-image.sh builds an equivalent Debian bookworm + Python
# 3.11 base and deploy/scripts/build.sh passes its tag here instead.
# Refresh the digest: docker buildx imagetools inspect python:3.11-slim-bookworm
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${BASE_IMAGE} AS builder

# 1 installs only from the wheelhouse the host filled (containers that cannot
# reach the index); pip reads it from the environment. Hashes are checked
# either way.
ARG PIP_NO_INDEX=0
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# Byte code for the builder's own standard library (this stage only, never
# shipped): every Python process below, pip and the smoke test included, then
# starts without compiling it in memory first.
RUN python3 -m compileall -q -j 0 --invalidation-mode=unchecked-hash \
        "$(python3 -c "import sysconfig; print(sysconfig.get_path('stdlib'))")"

# The wheelhouse is optional: the pattern matches nothing when it is absent.
COPY deploy/requirements/runtime.txt /tmp/requirements.txt
COPY build/wheelhous[e] /tmp/wheelhouse/

# Byte code is compiled once here, as unchecked hashes: imports never stat the
# sources nor try to write caches on the read-only root.
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-compile --no-deps --require-hashes \
        --only-binary=:all: --find-links=/tmp/wheelhouse --requirement=/tmp/requirements.txt \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools \
 && rm /opt/venv/bin/activate* /opt/venv/bin/Activate.ps1 \
 && python3 -m compileall -q -j 0 --invalidation-mode=unchecked-hash /opt/venv

# Code after dependencies: a code-only change reuses every layer above.
COPY deploy/scripts/stdlib_bytecode.py /tmp/stdlib_bytecode.py
COPY config/config.json /config/config.json
COPY service/ /app/service/
WORKDIR /app
# Permissions are normalised here, whatever the host's umask. The smoke test
# loads gunicorn's config and the app with the runtime command's arguments
# (what `gunicorn --check-config` does), serves a few requests, and compiles
# the standard-library modules all that used: the base ships none compiled,
# and the runtime root is read-only.
RUN chmod -R u=rwX,go=rX /app /config \
 && python3 -m compileall -q --invalidation-mode=unchecked-hash /app/service \
 && /opt/venv/bin/python /tmp/stdlib_bytecode.py /stdlib-bytecode \
        --config=python:service.runtime.gunicorn_conf service.wsgi:app


FROM ${BASE_IMAGE} AS runtime

# First, so that no step below leaves byte code of its own in a layer either.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1

# The base's own pip and setuptools go too (the official image ships them), so
# nothing in the image can install code; setuid/setgid bits are stripped so no
# binary can raise privileges. useradd dates the password's last change in
# /etc/shadow from SOURCE_DATE_EPOCH when it is set (the commit time, for a
# reproducible build), from the day of the build otherwise.
ARG SOURCE_DATE_EPOCH
RUN groupadd --system --gid 10001 calculator \
 && useradd --system --no-log-init --uid 10001 --gid calculator \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin calculator \
 && site=$(python3 -c "import sysconfig; print(sysconfig.get_path('purelib'))") \
 && rm -rf "$site"/pip "$site"/pip-* "$site"/setuptools "$site"/setuptools-* "$site"/pkg_resources \
        "$site"/wheel "$site"/wheel-* "$site"/_distutils_hack "$site"/distutils-precedence.pth \
        /usr/local/bin/pip /usr/local/bin/pip3* /usr/local/bin/wheel \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} +

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /config /config
COPY --from=builder /stdlib-bytecode/ /
COPY --from=builder /app /app

WORKDIR /app
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "service.runtime.healthcheck"]
# gunicorn runs as PID 1: it reaps its workers and turns SIGTERM into a graceful stop.
CMD ["gunicorn", "--config=python:service.runtime.gunicorn_conf", "service.wsgi:app"]

ARG BASE_IMAGE
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="calculator-service" \
      org.opencontainers.image.description="An exact-arithmetic HTTP calculator (Flask on gunicorn), non-root and read-only." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
