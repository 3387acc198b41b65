# The calculator service image: distroless.
#
# The builder stage, on the Python base, makes the virtual environment, proves
# the app loads and serves (the smoke test), and measures what that used; from
# that measurement it assembles /rootfs: the interpreter, the standard-library
# modules loaded (byte code), the shared libraries the ELF files need, the
# environment, the app, the config and the dpkg records of the Debian packages
# those files come from (docs/image.md). The runtime stage is that root on
# scratch: no shell, no package manager, no setuid file.
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
COPY deploy/scripts/smoke_test.py deploy/scripts/runtime_root.py /tmp/
COPY config/config.json /config/config.json
COPY service/ /app/service/
WORKDIR /app
# Permissions are normalised here, whatever the host's umask. The smoke test
# starts gunicorn with the runtime command's arguments, sends it real requests,
# runs the health check and stops it, and records the standard-library modules
# and other files all that used; the root is cut from that record. Then the
# smoke test runs again inside the root, chrooted, as the runtime user, with
# what the engine provides at run time (a /dev/shm for gunicorn's worker files,
# the app's directory on the path as WORKDIR puts it): what was left out was
# not needed.
RUN chmod -R u=rwX,go=rX /app /config \
 && python3 -m compileall -q --invalidation-mode=unchecked-hash /app/service \
 && /opt/venv/bin/python /tmp/smoke_test.py --record=/tmp/used.json \
        --config=python:service.runtime.gunicorn_conf service.wsgi:app \
 && python3 /tmp/runtime_root.py /tmp/used.json /rootfs \
 && cp /tmp/smoke_test.py /rootfs/tmp/ \
 && mkdir /rootfs/dev && mkdir -m 1777 /rootfs/dev/shm \
 && PYTHONPATH=/app chroot --userspec=10001:10001 /rootfs /opt/venv/bin/python /tmp/smoke_test.py \
        --config=python:service.runtime.gunicorn_conf service.wsgi:app \
 && rm -rf /rootfs/dev \
 && find /rootfs/tmp -mindepth 1 -delete


FROM scratch AS runtime

COPY --from=builder /rootfs/ /

# No shell expands PATH here: it is spelled out. The environment's bin comes first.
ENV PATH=/opt/venv/bin:/usr/local/bin:/usr/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1

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
