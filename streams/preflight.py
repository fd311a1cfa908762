"""Checks before the worker starts: can it reach Kafka, log in, and find its topics as they must be?

Faust on its own retries a broker it cannot reach or log in to for ever, and a topic that is
missing or has the wrong partition count shows up late, deep in a traceback. `preflight` finds
these in a few seconds, with the same security options the worker will use, and raises
`PreflightError` with one line saying what is wrong and what to fix. It only reads: it creates
nothing (`cobstream topics create` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import IllegalSaslStateError, KafkaError, UnsupportedSaslMechanismError

from streams.kafka_internals import open_connection
from streams.settings import PREFIX, Settings
from streams.topics import topic_specs

CONFIG = 2  # the settings, or the cluster, are not set up for this worker
UNREACHABLE = 3  # cannot connect to Kafka or log in to it

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class PreflightError(Exception):
    """What is wrong, in one line, and the exit status for it."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the causes said
        self.exit_code = exit_code


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def changelog_topic(settings: Settings) -> str:
    """The claims table's changelog, as Faust names it (`{app id}-{table}-changelog`)."""
    return f"{settings.group_id}-claims-changelog"


def run_preflight(settings: Settings, timeout: float = 10.0) -> None:
    asyncio.run(preflight(settings, timeout=timeout))


async def preflight(settings: Settings, *, timeout: float = 10.0) -> None:
    """Raise `PreflightError` if the worker could not work with these settings; else return."""
    addresses = parse_brokers(settings)
    options = client_options(settings)
    check_local(settings)
    deadline = time.monotonic() + timeout
    with _quiet("aiokafka"):
        reachable = await _reachable(addresses, min(3.0, timeout / 3))
        try:
            partitions = await asyncio.wait_for(
                _topic_partitions(settings, options, reachable, deadline), max(0.1, deadline - time.monotonic())
            )
        except TimeoutError:
            raise PreflightError(
                f"Kafka at {_list(reachable)} accepts connections but did not answer within {timeout:g} s; "
                f"check {PREFIX}BROKERS and {PREFIX}SECURITY_PROTOCOL (is it the right listener?)",
                UNREACHABLE,
            ) from None
    check_topics(settings, partitions)


def parse_brokers(settings: Settings) -> list[Address]:
    addresses = []
    for entry in settings.broker_list:
        host, sep, port = entry.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise PreflightError(
                f"{PREFIX}BROKERS={settings.brokers!r}: {entry!r} is not HOST:PORT; "
                "give the bootstrap servers as HOST:PORT, comma-separated",
                CONFIG,
            )
        addresses.append(Address(host, int(port)))
    if not addresses:
        raise PreflightError(
            f"{PREFIX}BROKERS is empty; give the bootstrap servers as HOST:PORT, comma-separated", CONFIG
        )
    return addresses


def client_options(settings: Settings) -> dict[str, object]:
    """The aiokafka security options, or a `PreflightError` naming the setting that breaks them."""
    security = settings.security
    if "SASL" in security.protocol and security.sasl_mechanism not in SASL_MECHANISMS:
        raise PreflightError(
            f"{PREFIX}SASL_MECHANISM={security.sasl_mechanism!r} is not supported; "
            f"use one of {', '.join(SASL_MECHANISMS)} (the one the broker's listener enables)",
            CONFIG,
        )
    try:
        return settings.security.aiokafka_options()
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        files = [
            f"{PREFIX}{name}={value}"
            for name, value in (
                ("SSL_CAFILE", security.ssl_cafile),
                ("SSL_CERTFILE", security.ssl_certfile),
                ("SSL_KEYFILE", security.ssl_keyfile),
            )
            if value
        ]
        raise PreflightError(
            f"cannot set up TLS ({reason}); check {', '.join(files) or PREFIX + 'SSL_CAFILE'}"
            " (readable PEM files; the key must match the certificate)",
            CONFIG,
        ) from None


def check_local(settings: Settings) -> None:
    """What the worker needs on this host: a writable state folder and a free web port."""
    if settings.store.startswith("rocksdb"):
        try:
            settings.state_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=settings.state_dir):
                pass
        except OSError as exc:
            raise PreflightError(
                f"{PREFIX}STATE_DIR={settings.state_dir} is not a writable folder "
                f"({exc.strerror or type(exc).__name__}); point it at one the worker may write",
                CONFIG,
            ) from None
    try:
        family, _, _, _, address = socket.getaddrinfo(
            settings.web_host, settings.web_port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        fix = (
            f"give each worker on a host its own {PREFIX}WEB_PORT"
            if exc.errno == errno.EADDRINUSE
            else f"check {PREFIX}WEB_HOST and {PREFIX}WEB_PORT"
        )
        raise PreflightError(
            f"cannot listen on {PREFIX}WEB_HOST={settings.web_host} {PREFIX}WEB_PORT={settings.web_port} "
            f"({exc.strerror or type(exc).__name__}); {fix}",
            CONFIG,
        ) from None


async def _reachable(addresses: list[Address], timeout: float) -> list[Address]:
    """The addresses that accept a TCP connection; `PreflightError` if none does."""
    results = await asyncio.gather(*(_tcp_problem(a, timeout) for a in addresses))
    reachable = [a for a, problem in zip(addresses, results, strict=True) if problem is None]
    if not reachable:
        problems = ", ".join(f"{a} ({p})" for a, p in zip(addresses, results, strict=True))
        raise PreflightError(
            f"cannot reach Kafka at {problems}; check {PREFIX}BROKERS and that the broker is running",
            UNREACHABLE,
        )
    return reachable


async def _tcp_problem(address: Address, timeout: float) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address.host, address.port), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except socket.gaierror:
        return "unknown host"
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return (exc.strerror or type(exc).__name__).lower()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def _topic_partitions(
    settings: Settings, options: dict[str, object], reachable: list[Address], deadline: float
) -> dict[str, int | None]:
    """Partition counts of every topic the worker needs (None: missing) and of the changelog."""
    request_ms = int(max(1.0, min(5.0, deadline - time.monotonic())) * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=[str(a) for a in reachable], request_timeout_ms=request_ms, **options)
    try:
        try:
            await admin.start()
        except (KafkaError, OSError) as exc:
            raise PreflightError(await _login_problem(settings, options, reachable, exc), UNREACHABLE) from None
        try:
            # All topics, not the ones named: naming a missing topic in a Metadata request
            # creates it on a cluster with auto.create.topics.enable=true (Kafka's default).
            described = await admin.describe_topics(None)
        except (KafkaError, OSError) as exc:
            raise PreflightError(
                f"Kafka at {_list(reachable)} answered, but a request to its brokers failed "
                f"({_reason(exc)}); check the brokers' advertised.listeners are reachable from here",
                UNREACHABLE,
            ) from None
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    # (A topic this user may not describe is left out of the list, as if it did not exist.)
    found = {t["topic"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}
    names = [settings.topic(s.name) for s in topic_specs(settings)] + [changelog_topic(settings)]
    return {name: found.get(name) for name in names}


async def _login_problem(
    settings: Settings, options: dict[str, object], reachable: list[Address], error: BaseException
) -> str:
    """Why bootstrapping failed although TCP connects: one line for the user."""
    protocol = settings.security.protocol
    where = _list(reachable)
    detail = await _connection_error(options, reachable[0])
    if "SASL" in protocol:
        if isinstance(detail, IllegalSaslStateError):
            return (
                f"Kafka at {where} does not take SASL on that listener (it is probably a PLAINTEXT one); "
                f"check {PREFIX}BROKERS (the SASL listener's port) and {PREFIX}SECURITY_PROTOCOL"
            )
        if isinstance(detail, UnsupportedSaslMechanismError):
            return (
                f"Kafka at {where} does not enable SASL mechanism {settings.security.sasl_mechanism} "
                f"on that listener; check {PREFIX}SASL_MECHANISM"
            )
        return (
            f"Kafka at {where} refused the SASL credentials (or the security protocol does not match the "
            f"listener); check {PREFIX}SASL_USERNAME, {PREFIX}SASL_PASSWORD, {PREFIX}SASL_MECHANISM and "
            f"{PREFIX}SECURITY_PROTOCOL"
        )
    if "SSL" in protocol:
        return (
            f"the TLS connection to Kafka at {where} failed ({_reason(detail or error)}); check "
            f"{PREFIX}SECURITY_PROTOCOL, {PREFIX}SSL_CAFILE, {PREFIX}SSL_CERTFILE and {PREFIX}SSL_KEYFILE"
        )
    return (
        f"Kafka at {where} accepts connections but does not answer {protocol} Kafka requests"
        f"{f' ({_reason(detail)})' if detail else ''}; check {PREFIX}BROKERS and {PREFIX}SECURITY_PROTOCOL "
        "(the listener may need SASL or TLS)"
    )


async def _connection_error(options: dict[str, object], address: Address) -> BaseException | None:
    """The error of one direct connection with these options (what bootstrapping swallows)."""
    try:
        conn = await asyncio.wait_for(
            open_connection(
                address.host,
                address.port,
                request_timeout_ms=3000,
                **{k: v for k, v in options.items() if k.startswith(("security_", "ssl_", "sasl_"))},
            ),
            3.5,
        )
    except Exception as exc:
        return exc
    conn.close()
    return None


def check_topics(settings: Settings, partitions: dict[str, int | None]) -> None:
    """`PreflightError` for the first topic that is missing or wrongly partitioned."""
    contract = [settings.topic(s.name) for s in topic_specs(settings)]
    missing = [name for name in contract if partitions.get(name) is None]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise PreflightError(
            f"topic {missing[0]} does not exist{more}; run: cobstream topics create "
            f"(with the same {PREFIX}TOPIC_PREFIX and {PREFIX}PARTITIONS)",
            CONFIG,
        )
    copartitioned = [settings.topic(s.name) for s in topic_specs(settings) if s.claim_partitioned]
    changelog = changelog_topic(settings)
    if partitions.get(changelog) is not None:
        copartitioned.append(changelog)
    wrong = {name: partitions[name] for name in copartitioned if partitions[name] != settings.partitions}
    if wrong:
        name, count = next(iter(wrong.items()))
        counts = {partitions[name] for name in copartitioned}
        fix = (
            f"recreate the topics or set {PREFIX}PARTITIONS={count}"
            if len(counts) == 1
            else f"recreate {', '.join(wrong)} with {settings.partitions} partitions"
        )
        raise PreflightError(
            f"topic {name} has {count} partitions but {PREFIX}PARTITIONS={settings.partitions}: "
            f"the claims table must be co-partitioned with the claim topics; {fix}",
            CONFIG,
        )


def _list(addresses: list[Address]) -> str:
    return ", ".join(str(a) for a in addresses)


def _reason(exc: BaseException) -> str:
    name, text = type(exc).__name__, str(exc).strip()
    if not text or text == name:
        return name
    return text if text.startswith(name) else f"{name}: {text}"


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """No log lines from `name` (aiokafka logs every failed connection as an error; the
    preflight's one line says it better)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # its child loggers inherit this level
    try:
        yield
    finally:
        logger.setLevel(before)
