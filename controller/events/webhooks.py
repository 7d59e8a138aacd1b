"""Outbound webhooks: every command/invocation status change POSTed as signed JSON, to the
controller's webhooks and to each command's own notification URL.

Configured in ``controller.yaml`` (controller/events/webhook_config.py reads it)::

    webhooks:
      - url: https://hooks.example.com/outpost
        secret: "a long random string"
        events: [command, invocation]   # optional; the default is both
    webhooks_ca_bundle: /etc/outpost/webhook-ca.pem   # optional: https receivers checked against these CAs only
    notification_secret: "another long random string" # signs commands' own notifications (--notify-url)

Each delivery is ``POST <url>`` with body ``StatusEvent.to_json()`` (compact JSON, UTF-8) and::

    Content-Type: application/json
    User-Agent: outpost-webhooks/1
    X-Outpost-Event: command | invocation
    X-Outpost-Delivery: <uuid4>          the same on every retry of one event: dedupe on it
    X-Outpost-Timestamp: <unix seconds>  fresh on every attempt
    X-Outpost-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

The secret is the webhook's own; a command's notification (``WebhookSender.notify``, chosen by
controller/events/notices.py) is signed with ``notification_secret``. A receiver recomputes the HMAC
over the exact bytes it received (:func:`verify_signature` does it, in constant time) and should
reject a timestamp more than 5 minutes from its own clock, so a captured request cannot be replayed.

Delivery: any 2xx is delivered; any other status (redirects are not followed), a timeout or a
connection error is retried with exponential backoff and full jitter, up to ``max_attempts``
attempts, after which the event is dropped with an error log. One worker per webhook (per URL for
notifications) delivers its events strictly in order, so a failing event delays the ones behind it
(``seq`` in the body lets a receiver check order and gaps). :meth:`WebhookSender.submit` and
:meth:`WebhookSender.notify` only append to a bounded queue: no I/O, never block, never raise; when
a queue is full the oldest event is dropped and counted. A notification URL's worker ends when its
queue is empty, and a new one starts with its next event.

HTTP client: one ``httpx.AsyncClient`` per sender, on the controller's event loop (timeouts and
shutdown are task cancellation): connections kept alive and reused between deliveries; connect,
read, write and pool timeouts of ``timeout_seconds`` each, and the whole attempt bounded by it too;
proxies from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``); TLS
verified against the system's trust store, or only ``webhooks_ca_bundle``'s CAs when set; at most
64 KB of a response body read. Closed at shutdown.

Secrets are :class:`~plugins.sdk.secrets.Secret`: never logged, never in a repr. URLs are logged
only as ``scheme://host:port`` because some embed tokens in their path.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from controller.events.bus import StatusEvent
from controller.events.webhook_config import (
    DEFAULT_KINDS,
    WebhookConfig,
    load_webhooks,
    sign,
    tls_context,
    verify_signature,
)
from plugins.sdk.secrets import Secret

__all__ = ["WebhookConfig", "WebhookSender", "WebhookStats", "load_webhooks", "sign", "verify_signature"]

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 10_000
MAX_RESPONSE_BYTES = 64 * 1024  # of a receiver's answer, read and thrown away (then the connection is reused)
USER_AGENT = "outpost-webhooks/1"
QUIET_LOGGERS = ("httpx", "httpcore")  # below WARNING they log URLs; the sender logs origins only


@dataclass(frozen=True)
class WebhookStats:
    origin: str
    queued: int
    delivered: int
    failed: int
    retried: int
    dropped: int


@dataclass(eq=False)
class _Counts:
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0

    def add(self, other: _Counts) -> None:
        self.delivered, self.failed = self.delivered + other.delivered, self.failed + other.failed
        self.retried, self.dropped = self.retried + other.retried, self.dropped + other.dropped


@dataclass(eq=False)
class _Hook(_Counts):
    config: WebhookConfig = field(kw_only=True)
    transient: bool = field(default=False, kw_only=True)  # a notification URL's: its worker ends when it is idle
    queue: collections.deque[tuple[StatusEvent, str]] = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: StatusEvent | None = None


def _backlog(hook: _Counts) -> int:
    return len(hook.queue) + (hook.in_flight is not None) if isinstance(hook, _Hook) else 0


class WebhookSender:
    """Delivers submitted status events to each configured webhook, and notified ones to their
    command's URL; see the module docstring."""

    def __init__(self, configs: Sequence[WebhookConfig], *, queue_limit: int = DEFAULT_QUEUE_LIMIT,
                 ssl_context: ssl.SSLContext | None = None, notification_secret: Secret | None = None,
                 rng: random.Random | None = None) -> None:
        """``ssl_context``: what https receivers are verified with (None: the system's trust store);
        ``notification_secret``: signs commands' notifications (None: :meth:`notify` is refused)."""
        self._hooks = tuple(_Hook(config=c) for c in configs)
        self._notified: dict[str, _Hook] = {}  # a notification URL -> its hook, while it has events
        self._retired = _Counts()  # of notification URLs' hooks that have ended
        self._secret = notification_secret
        self._limit = max(1, queue_limit)
        self._ssl = ssl_context
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopping = False

    def __repr__(self) -> str:
        return f"WebhookSender({', '.join(h.config.origin for h in self._hooks)})"

    @property
    def signs_notifications(self) -> bool:
        """Whether commands' own notifications can be sent (a notification_secret is configured)."""
        return self._secret is not None

    def _all(self) -> tuple[_Counts, ...]:
        return (*self._hooks, *self._notified.values(), self._retired)

    @property
    def delivered(self) -> int:
        """Events a webhook answered with 2xx."""
        return sum(h.delivered for h in self._all())

    @property
    def failed(self) -> int:
        """Events given up on after max_attempts."""
        return sum(h.failed for h in self._all())

    @property
    def retried(self) -> int:
        """Attempts beyond an event's first."""
        return sum(h.retried for h in self._all())

    @property
    def dropped(self) -> int:
        """Events lost because a webhook's queue was full."""
        return sum(h.dropped for h in self._all())

    @property
    def queued(self) -> int:
        """Events not yet delivered or given up on, including those in flight."""
        return sum(_backlog(h) for h in self._all())

    def stats(self) -> tuple[WebhookStats, ...]:
        """The configured webhooks', then each notification URL's that has events now (by origin)."""
        return tuple(WebhookStats(h.config.origin, _backlog(h), h.delivered, h.failed, h.retried, h.dropped)
                     for h in (*self._hooks, *self._notified.values()))

    def submit(self, event: StatusEvent) -> None:
        """Queue ``event`` for every webhook that wants its kind. O(1), no I/O, never raises."""
        try:
            if self._stopping:
                return
            for hook in self._hooks:
                if event.kind in hook.config.events:
                    self._queue(hook, event)
        except Exception:  # a sink must never break the publisher
            log.exception("webhook submit failed for event seq=%s", getattr(event, "seq", "?"))

    def notify(self, url: str, event: StatusEvent) -> None:
        """Queue ``event`` for a command's notification ``url`` (checked already), signed with the
        notification secret. O(1), no I/O, never raises."""
        try:
            if self._stopping or self._secret is None:
                return
            hook = self._notified.get(url)
            if hook is None:
                hook = self._notified[url] = _Hook(config=WebhookConfig(url, self._secret, DEFAULT_KINDS),
                                                   transient=True)
                if self._started:
                    self._spawn(hook)
            self._queue(hook, event)
        except Exception:  # a sink must never break the publisher
            log.exception("notification failed for event seq=%s", getattr(event, "seq", "?"))

    def _queue(self, hook: _Hook, event: StatusEvent) -> None:
        if len(hook.queue) >= self._limit:
            lost, _ = hook.queue.popleft()
            hook.dropped += 1
            if hook.dropped == 1 or hook.dropped % 1000 == 0:
                log.warning("webhook %s: queue full (%d events); dropped the oldest (seq=%d), "
                            "%d dropped so far", hook.config.origin, self._limit, lost.seq, hook.dropped)
        hook.queue.append((event, str(uuid.uuid4())))
        hook.wake.set()

    def start(self) -> None:
        """Open the HTTP client and start one worker per webhook (and per notification URL with events)
        on the running loop. Events submitted earlier are kept."""
        if self._started or self._stopping:
            return
        self._started = True
        for name in QUIET_LOGGERS:  # httpx logs each request's whole URL at INFO, a token in it too
            logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
        self._client = httpx.AsyncClient(
            verify=self._ssl if self._ssl is not None else tls_context(None), trust_env=True, follow_redirects=False,
            timeout=httpx.Timeout(connect=5.0, read=5.0, write=5.0, pool=5.0),  # each hook's own per request
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0),
            headers={"User-Agent": USER_AGENT})
        for hook in (*self._hooks, *self._notified.values()):
            self._spawn(hook)

    def _spawn(self, hook: _Hook) -> None:
        task = asyncio.create_task(self._worker(hook), name=f"webhook {hook.config.origin}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking events, give the workers ``drain_seconds`` to empty their queues, then cancel
        them and close the HTTP client."""
        self._stopping = True
        for hook in (*self._hooks, *self._notified.values()):
            hook.wake.set()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, drain_seconds))
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        for hook in (*self._hooks, *self._notified.values()):
            if _backlog(hook):
                log.warning("webhook %s: stopped with %d undelivered events", hook.config.origin, _backlog(hook))

    async def _worker(self, hook: _Hook) -> None:
        while True:
            if not hook.queue:
                if hook.transient:  # the next event for its URL starts another
                    self._retire(hook)
                    return
                if self._stopping:
                    return
                hook.wake.clear()
                await hook.wake.wait()
                continue
            event, delivery = hook.queue.popleft()
            hook.in_flight = event
            await self._deliver(hook, event, delivery)
            hook.in_flight = None

    def _retire(self, hook: _Hook) -> None:
        if self._notified.get(hook.config.url) is hook:
            del self._notified[hook.config.url]
        self._retired.add(hook)

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
                status = await asyncio.wait_for(self._post(cfg, headers, body), cfg.timeout_seconds)
                if 200 <= status < 300:
                    hook.delivered += 1
                    return
                error = f"HTTP {status}"
            except Exception as exc:  # timeouts, refusals, TLS, bad responses: all retried; never kill the worker
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                error = error.replace(cfg.url, cfg.origin)  # an error may quote the URL (and a token in it)
            log.debug("webhook %s: attempt %d/%d for %s seq=%d failed: %s", cfg.origin, attempt,
                      cfg.max_attempts, event.kind, event.seq, error)
        hook.failed += 1
        log.error("webhook %s: gave up on %s event seq=%d (command %s) after %d attempts; last error: %s",
                  cfg.origin, event.kind, event.seq, event.command_id, cfg.max_attempts, error)

    async def _post(self, cfg: WebhookConfig, headers: dict[str, str], body: bytes) -> int:
        """One POST; the response status code. At most MAX_RESPONSE_BYTES of the answer are read."""
        assert self._client is not None, "start() opens the client"
        async with self._client.stream("POST", cfg.url, content=body, headers=headers,
                                       timeout=httpx.Timeout(cfg.timeout_seconds)) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= MAX_RESPONSE_BYTES:
                    break
            return response.status_code
