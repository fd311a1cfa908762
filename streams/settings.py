"""Worker settings, read from environment variables (12-factor), with sensible local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.helpers import create_ssl_context

from models.cob.processor import DEFAULT_RETENTION
from models.contract.topics import DIRECT_TOPICS, TopicNames

PREFIX = "COBSTREAM_"
MIB = 1024 * 1024
INPUT_PATHS = ("direct", "claim-events")


class SettingsError(ValueError):
    """A setting that cannot work; the message says which variable and what to do."""


def _env(name: str, default: str) -> str:
    return os.environ.get(PREFIX + name, default)


def _int(name: str, default: int, minimum: int = 1) -> int:
    text = _env(name, str(default))
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={text!r} must be a whole number") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name}={value} must be at least {minimum}")
    return value


def _switch(name: str, *, default: bool) -> bool:
    text = _env(name, "1" if default else "0").lower()
    if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
        raise SettingsError(f"{PREFIX}{name}={text!r} must be 1 or 0")
    return text in ("1", "true", "yes", "on")


def _float(name: str, default: float) -> float:
    text = _env(name, str(default))
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={text!r} must be a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{PREFIX}{name}={text} must be positive")
    return value


@dataclass(frozen=True)
class Security:
    """How to reach Kafka: passed through to aiokafka (SASL/SCRAM, TLS)."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_env(cls) -> Security:
        protocol = _env("SECURITY_PROTOCOL", "PLAINTEXT").upper()
        allowed = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
        if protocol not in allowed:
            raise SettingsError(f"{PREFIX}SECURITY_PROTOCOL={protocol!r} must be one of {', '.join(allowed)}")
        security = cls(
            protocol=protocol,
            sasl_mechanism=os.environ.get(PREFIX + "SASL_MECHANISM")
            or ("SCRAM-SHA-512" if "SASL" in protocol else None),
            sasl_username=os.environ.get(PREFIX + "SASL_USERNAME"),
            sasl_password=os.environ.get(PREFIX + "SASL_PASSWORD"),
            ssl_cafile=os.environ.get(PREFIX + "SSL_CAFILE"),
            ssl_certfile=os.environ.get(PREFIX + "SSL_CERTFILE"),
            ssl_keyfile=os.environ.get(PREFIX + "SSL_KEYFILE"),
        )
        if "SASL" in protocol and not (security.sasl_username and security.sasl_password):
            raise SettingsError(
                f"{PREFIX}SECURITY_PROTOCOL={protocol} needs {PREFIX}SASL_USERNAME and {PREFIX}SASL_PASSWORD"
            )
        return security

    def aiokafka_options(self) -> dict[str, object]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
        options: dict[str, object] = {"security_protocol": self.protocol}
        if "SSL" in self.protocol:
            options["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        if "SASL" in self.protocol:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return options


@dataclass(frozen=True)
class Settings:
    brokers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    partitions: int = 3
    replication_factor: int = 1
    app_id: str = "cobstream"
    state_dir: Path = Path("var/state")
    store: str = "rocksdb://"
    processing_guarantee: str = "at_least_once"
    claim_retention_days: float = DEFAULT_RETENTION.days
    timer_interval: float = 60.0
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    session_timeout: float = 30.0
    log_level: str = "info"
    # How much the Faust consumer takes in at once (docs/PERFORMANCE.md, "Third round"): bytes
    # per partition per fetch and unprocessed messages per stream stay at Faust's defaults (more
    # only cost memory); records per poll, 0 for no limit (Faust's default), is capped at 1000,
    # with which the worker spent about 15% less CPU per EOB.
    consumer_max_fetch_bytes: int = MIB
    max_poll_records: int = 1000
    stream_buffer_maxsize: int = 4096
    # How long a fetch waits for records on the broker; Faust's own 1500 ms made a hop wait that
    # long under load (streams/kafka_internals.py ShortWaitConsumerThread, docs/PERFORMANCE.md).
    fetch_max_wait_ms: int = 20
    # Read the claims table's changelog in bulk before Faust starts (streams/restore.py).
    bulk_restore: bool = True
    # Where the claims agent takes EOBs and submissions: `direct`, on the input topic itself when
    # the record is on its claim's partition (the rest through claim-events), or `claim-events`,
    # every one re-keyed through the claim-events topic first (docs/ARCHITECTURE.md, "Input paths").
    input_path: str = "direct"
    security: Security = field(default_factory=Security)

    @classmethod
    def from_env(cls) -> Settings:
        guarantee = _env("PROCESSING_GUARANTEE", "at_least_once")
        if guarantee not in ("at_least_once", "exactly_once"):
            raise SettingsError(f"{PREFIX}PROCESSING_GUARANTEE={guarantee!r} must be at_least_once or exactly_once")
        input_path = _env("INPUT_PATH", cls.input_path)
        if input_path not in INPUT_PATHS:
            raise SettingsError(f"{PREFIX}INPUT_PATH={input_path!r} must be {' or '.join(INPUT_PATHS)}")
        store = _env("STORE", "rocksdb://")
        if store not in ("rocksdb://", "memory://"):
            raise SettingsError(f"{PREFIX}STORE={store!r} must be rocksdb:// or memory://")
        return cls(
            brokers=_env("BROKERS", "127.0.0.1:9092"),
            topic_prefix=_env("TOPIC_PREFIX", ""),
            partitions=_int("PARTITIONS", 3),
            replication_factor=_int("REPLICATION_FACTOR", 1),
            app_id=_env("APP_ID", "cobstream"),
            state_dir=Path(_env("STATE_DIR", "var/state")),
            store=store,
            processing_guarantee=guarantee,
            claim_retention_days=_float("CLAIM_RETENTION_DAYS", cls.claim_retention_days),
            timer_interval=_float("TIMER_INTERVAL", 60.0),
            web_host=_env("WEB_HOST", "127.0.0.1"),
            web_port=_int("WEB_PORT", 6066),
            session_timeout=_float("SESSION_TIMEOUT", 30.0),
            log_level=_env("LOG_LEVEL", "info"),
            consumer_max_fetch_bytes=_int("CONSUMER_MAX_FETCH_BYTES", cls.consumer_max_fetch_bytes, minimum=1024),
            max_poll_records=_int("MAX_POLL_RECORDS", cls.max_poll_records, minimum=0),
            stream_buffer_maxsize=_int("STREAM_BUFFER_MAXSIZE", cls.stream_buffer_maxsize),
            fetch_max_wait_ms=_int("FETCH_MAX_WAIT_MS", cls.fetch_max_wait_ms),
            bulk_restore=_switch("BULK_RESTORE", default=True),
            input_path=input_path,
            security=Security.from_env(),
        )

    @property
    def direct_topics(self) -> tuple[str, ...]:
        """The input topics (contract names) the claims agent reads itself, on the direct path."""
        return DIRECT_TOPICS if self.input_path == "direct" else ()

    @property
    def names(self) -> TopicNames:
        """The contract's topic names behind this environment's prefix, both ways."""
        return TopicNames(self.topic_prefix)

    def topic(self, name: str) -> str:
        """The full name of a contract topic, with the environment's prefix."""
        return self.names.full(name)

    @property
    def broker_list(self) -> list[str]:
        return [b.strip().removeprefix("kafka://") for b in self.brokers.split(",") if b.strip()]

    @property
    def group_id(self) -> str:
        return f"{self.topic_prefix}{self.app_id}"
