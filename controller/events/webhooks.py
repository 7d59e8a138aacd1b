"""Outbound webhooks: every command/invocation status change POSTed as signed JSON.

Configured in ``controller.yaml``::

    webhooks:
      - url: https://hooks.example.com/outpost
        secret: "a long random string"
        events: [command, invocation]   # optional; the default is both

Each delivery is ``POST <url>`` with body ``StatusEvent.to_json()`` (compact JSON, UTF-8) and::

    Content-Type: application/json
    X-Outpost-Event: command | invocation
    X-Outpost-Delivery: <uuid4>          the same on every retry of one event: dedupe on it
    X-Outpost-Timestamp: <unix seconds>  fresh on every attempt
    X-Outpost-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

A receiver recomputes the HMAC over the exact bytes it received (:func:`verify_signature` does
it, in constant time) and should reject a timestamp more than 5 minutes from its own clock, so a
captured request cannot be replayed later.

Delivery: any 2xx is delivered; any other status (redirects are not followed), a timeout or a
connection error is retried with exponential backoff and full jitter, up to ``max_attempts``
attempts, after which the event is dropped with an error log. One worker per webhook delivers
that webhook's events strictly in order, so a failing event delays the ones behind it (``seq`` in
the body lets a receiver check order and gaps). :meth:`WebhookSender.submit` only appends to
the webhook's bounded queue: it does no I/O, never blocks and never raises; when a queue is full
the oldest event is dropped and counted.

HTTP client: a minimal HTTP/1.1 POST over ``asyncio.open_connection`` (TLS for https through an
``ssl`` context that verifies the server). It lives on the controller's event loop, so timeouts
and shutdown are plain task cancellation; a ``urllib`` call in a thread pool could not be
cancelled mid-connect and would tie up a thread per stuck receiver. One connection per attempt
(``Connection: close``): webhooks are low-rate and this keeps the client small.

The secret is a :class:`~plugins.sdk.secrets.Secret`: it is never logged and never in a repr.
URLs are logged only as ``scheme://host:port`` because some embed tokens in their path.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from controller.events.bus import EventKind, StatusEvent
from plugins.sdk.errors import InputError
from plugins.sdk.secrets import Secret

log = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="
DEFAULT_MAX_AGE_SECONDS = 300.0
DEFAULT_QUEUE_LIMIT = 10_000
_NUMBERS = {"max_attempts": int, "initial_backoff_seconds": float, "max_backoff_seconds": float,
            "timeout_seconds": float}
_KEYS = frozenset({"url", "secret", "events", *_NUMBERS})
_PORTS = {"http": 80, "https": 443}
KINDS = frozenset(k.value for k in EventKind)
# node events (no status) only for hooks that ask for them: a receiver written for status changes
# keeps receiving just those
DEFAULT_KINDS = frozenset({EventKind.COMMAND.value, EventKind.INVOCATION.value})


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    secret: Secret  # a plain str is wrapped on construction
    events: frozenset[str] = DEFAULT_KINDS
    max_attempts: int = 8
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.secret, str):
            object.__setattr__(self, "secret", Secret(self.secret))
        _check_url(self.url, "url")
        if self.max_attempts < 1 or min(self.initial_backoff_seconds, self.max_backoff_seconds,
                                        self.timeout_seconds) <= 0:
            raise ValueError("max_attempts, backoffs and timeout_seconds must be positive")

    @property
    def origin(self) -> str:
        """``scheme://host:port`` only: safe to log."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or _PORTS[parts.scheme]}"


def load_webhooks(raw: object, where: str = "webhooks") -> tuple[WebhookConfig, ...]:
    """Validate the ``webhooks:`` list of controller.yaml; errors name e.g. ``webhooks[1].url``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(where, "expected a list of webhooks")
    return tuple(_load_one(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _load_one(item: object, where: str) -> WebhookConfig:
    if not isinstance(item, dict):
        raise InputError(where, "expected a mapping with url, secret and events")
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise InputError(f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(_KEYS))}")
    url = item.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"{where}.url", "expected a non-empty http:// or https:// URL")
    _check_url(url.strip(), f"{where}.url")
    secret = item.get("secret")
    if not isinstance(secret, str) or not secret.strip():
        raise InputError(f"{where}.secret", "expected a non-empty string")  # never echo the value
    events = item.get("events", sorted(DEFAULT_KINDS))
    if not isinstance(events, list) or not events:
        raise InputError(f"{where}.events", f"expected a non-empty list of {', '.join(sorted(KINDS))}")
    for j, kind in enumerate(events):
        if not isinstance(kind, str) or kind not in KINDS:
            raise InputError(f"{where}.events[{j}]", f"unknown event {kind!r}; expected one of "
                                                     f"{', '.join(sorted(KINDS))}")
    numbers: dict[str, int | float] = {}
    for key, kind_of in _NUMBERS.items():
        if key in item:
            value = item[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
                    or (kind_of is int and not isinstance(value, int)):
                raise InputError(f"{where}.{key}", f"expected a positive {kind_of.__name__}")
            numbers[key] = kind_of(value)
    config = WebhookConfig(url=url.strip(), secret=Secret(secret), events=frozenset(events), **numbers)
    if config.max_backoff_seconds < config.initial_backoff_seconds:
        raise InputError(f"{where}.max_backoff_seconds", "must not be less than initial_backoff_seconds")
    return config


def _check_url(url: str, where: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InputError(where, f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(where, "only http:// and https:// URLs are supported")
    if not parts.hostname:
        raise InputError(where, "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise InputError(where, "credentials in the URL are not allowed; use the secret")
    if not url.isascii() or any(c.isspace() for c in url):
        raise InputError(where, "the URL must be ASCII without whitespace (percent-encode it)")


def sign(secret: Secret | str, timestamp: str, body: bytes) -> str:
    """The ``X-Outpost-Signature`` value for ``body`` sent at ``timestamp``."""
    key = (secret.reveal() if isinstance(secret, Secret) else secret).encode()
    return SIGNATURE_PREFIX + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: Secret | str, timestamp: str, body: bytes, header: str, *,
                     max_age_seconds: float | None = DEFAULT_MAX_AGE_SECONDS, now: float | None = None) -> bool:
    """For receivers: is ``header`` the signature of ``body`` at ``timestamp``, and is the timestamp
    within ``max_age_seconds`` of ``now`` (``None`` skips the age check)? Constant-time compare."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if max_age_seconds is not None and abs((time.time() if now is None else now) - int(timestamp)) > max_age_seconds:
        return False
    expected = sign(secret, timestamp, body).encode()
    return hmac.compare_digest(expected, header.strip().encode("utf-8", "replace"))


class DeliveryError(Exception):
    """One attempt did not get a 2xx."""


@dataclass(frozen=True)
class WebhookStats:
    origin: str
    queued: int
    delivered: int
    failed: int
    retried: int
    dropped: int


@dataclass(eq=False)
class _Hook:
    config: WebhookConfig
    queue: collections.deque[tuple[StatusEvent, str]] = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: StatusEvent | None = None
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0


def _backlog(hook: _Hook) -> int:
    return len(hook.queue) + (hook.in_flight is not None)


class WebhookSender:
    """Delivers submitted status events to each configured webhook; see the module docstring."""

    def __init__(self, configs: Sequence[WebhookConfig], *, queue_limit: int = DEFAULT_QUEUE_LIMIT,
                 ssl_context: ssl.SSLContext | None = None, rng: random.Random | None = None) -> None:
        self._hooks = tuple(_Hook(c) for c in configs)
        self._limit = max(1, queue_limit)
        self._ssl = ssl_context  # None: the system's trust store, made on first https use
        self._rng = rng or random.Random()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def __repr__(self) -> str:
        return f"WebhookSender({', '.join(h.config.origin for h in self._hooks)})"

    @property
    def delivered(self) -> int:
        """Events a webhook answered with 2xx."""
        return sum(h.delivered for h in self._hooks)

    @property
    def failed(self) -> int:
        """Events given up on after max_attempts."""
        return sum(h.failed for h in self._hooks)

    @property
    def retried(self) -> int:
        """Attempts beyond an event's first."""
        return sum(h.retried for h in self._hooks)

    @property
    def dropped(self) -> int:
        """Events lost because a webhook's queue was full."""
        return sum(h.dropped for h in self._hooks)

    @property
    def queued(self) -> int:
        """Events not yet delivered or given up on, including those in flight."""
        return sum(_backlog(h) for h in self._hooks)

    def stats(self) -> tuple[WebhookStats, ...]:
        return tuple(WebhookStats(h.config.origin, _backlog(h), h.delivered, h.failed, h.retried, h.dropped)
                     for h in self._hooks)

    def submit(self, event: StatusEvent) -> None:
        """Queue ``event`` for every webhook that wants its kind. O(1), no I/O, never raises."""
        try:
            if self._stopping:
                return
            for hook in self._hooks:
                if event.kind not in hook.config.events:
                    continue
                if len(hook.queue) >= self._limit:
                    lost, _ = hook.queue.popleft()
                    hook.dropped += 1
                    if hook.dropped == 1 or hook.dropped % 1000 == 0:
                        log.warning("webhook %s: queue full (%d events); dropped the oldest (seq=%d), "
                                    "%d dropped so far", hook.config.origin, self._limit, lost.seq, hook.dropped)
                hook.queue.append((event, str(uuid.uuid4())))
                hook.wake.set()
        except Exception:  # a sink must never break the publisher
            log.exception("webhook submit failed for event seq=%s", getattr(event, "seq", "?"))

    def start(self) -> None:
        """Start one worker per webhook on the running loop. Events submitted earlier are kept."""
        if self._tasks or self._stopping:
            return
        self._tasks = [asyncio.create_task(self._worker(h), name=f"webhook {h.config.origin}")
                       for h in self._hooks]

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking events, give the workers ``drain_seconds`` to empty their queues, then cancel."""
        self._stopping = True
        for hook in self._hooks:
            hook.wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=max(0.0, drain_seconds))
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for hook in self._hooks:
            if _backlog(hook):
                log.warning("webhook %s: stopped with %d undelivered events", hook.config.origin, _backlog(hook))

    async def _worker(self, hook: _Hook) -> None:
        while True:
            if not hook.queue:
                if self._stopping:
                    return
                hook.wake.clear()
                await hook.wake.wait()
                continue
            event, delivery = hook.queue.popleft()
            hook.in_flight = event
            await self._deliver(hook, event, delivery)
            hook.in_flight = None

    async def _deliver(self, hook: _Hook, event: StatusEvent, delivery: str) -> None:
        cfg = hook.config
        body = json.dumps(event.to_json(), separators=(",", ":"), sort_keys=True).encode()
        for attempt in range(1, cfg.max_attempts + 1):
            if attempt > 1:
                hook.retried += 1
                cap = min(cfg.max_backoff_seconds, cfg.initial_backoff_seconds * 2 ** (attempt - 2))
                await asyncio.sleep(self._rng.uniform(0.0, cap))  # full jitter
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Outpost-Event": event.kind.value,
                       "X-Outpost-Delivery": delivery, "X-Outpost-Timestamp": timestamp,
                       "X-Outpost-Signature": sign(cfg.secret, timestamp, body)}
            try:
                status = await asyncio.wait_for(self._post(cfg.url, headers, body), cfg.timeout_seconds)
                if 200 <= status < 300:
                    hook.delivered += 1
                    return
                error = f"HTTP {status}"
            except Exception as exc:  # timeouts, refusals, TLS, bad responses: all retried; never kill the worker
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.debug("webhook %s: attempt %d/%d for %s seq=%d failed: %s", cfg.origin, attempt,
                      cfg.max_attempts, event.kind, event.seq, error)
        hook.failed += 1
        log.error("webhook %s: gave up on %s event seq=%d (command %s) after %d attempts; last error: %s",
                  cfg.origin, event.kind, event.seq, event.command_id, cfg.max_attempts, error)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> int:
        """One HTTP/1.1 POST; returns the response status code."""
        parts = urlsplit(url)
        https = parts.scheme == "https"
        host, port = parts.hostname or "", parts.port or _PORTS[parts.scheme]
        if https and self._ssl is None:
            self._ssl = ssl.create_default_context()
        context = self._ssl if https else None
        reader, writer = await asyncio.open_connection(host, port, ssl=context,
                                                       server_hostname=host if https else None)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            host_header = f"[{host}]" if ":" in host else host
            if parts.port:
                host_header += f":{parts.port}"
            lines = [f"POST {target} HTTP/1.1", f"Host: {host_header}", "User-Agent: outpost-webhooks/1",
                     f"Content-Length: {len(body)}", "Connection: close",
                     *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
        finally:
            writer.close()
        fields = status_line.decode("latin-1").split(None, 2)
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise DeliveryError(f"bad status line {status_line[:80]!r}" if status_line else "no response")
        return int(fields[1])
