# cobstream: the stream worker and its Kafka commands (topics, produce, tail) in one image.
#
#   docker build -t cobstream .
#   docker run --rm --init -e COBSTREAM_BROKERS=broker:9092 cobstream            # the worker
#   docker run --rm --init -e COBSTREAM_BROKERS=broker:9092 cobstream topics create
#
# Settings are the COBSTREAM_* environment variables of streams/settings.py (README / docs/DOCKER.md).
# All runtime dependencies (rocksdict, orjson, pydantic-core, aiokafka...) install from wheels,
# so the image needs no compiler.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user that owns only the worker's state directory (the RocksDB tables).
RUN groupadd --system --gid 10001 cobstream \
 && useradd --system --uid 10001 --gid cobstream --no-create-home --home-dir /var/lib/cobstream \
        --shell /usr/sbin/nologin cobstream \
 && mkdir -p /var/lib/cobstream \
 && chown cobstream:cobstream /var/lib/cobstream

# Dependencies first, from pyproject.toml alone (no test extras): editing the code does not
# reinstall them; editing the dependency list does.
COPY pyproject.toml /tmp/build/pyproject.toml
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/build/requirements.txt \
 && pip install -r /tmp/build/requirements.txt

# Then the project itself (a regular, non-editable install into site-packages).
COPY README.md /tmp/build/README.md
COPY models /tmp/build/models
COPY streams /tmp/build/streams
COPY agents /tmp/build/agents
COPY cobstream /tmp/build/cobstream
RUN pip install --no-deps /tmp/build \
 && pip check \
 && rm -rf /tmp/build

# The worker keeps its tables (RocksDB) in COBSTREAM_STATE_DIR; mount a volume there to keep
# them across container restarts (otherwise they are rebuilt from the changelog topics, which
# only takes longer). The worker's Faust web server stays on the container's loopback
# (COBSTREAM_WEB_HOST=127.0.0.1, the default): unreachable from outside the container, which is
# the safe default. Set COBSTREAM_WEB_HOST=0.0.0.0 and publish COBSTREAM_WEB_PORT to expose it.
ENV COBSTREAM_STATE_DIR=/var/lib/cobstream \
    COBSTREAM_WEB_HOST=127.0.0.1
VOLUME ["/var/lib/cobstream"]

USER 10001:10001
WORKDIR /app
ENTRYPOINT ["cobstream"]
CMD ["worker"]
