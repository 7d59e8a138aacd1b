"""What the webhooks are told by controller.yaml, and how a delivery is signed: the ``webhooks:``
list, ``webhooks_ca_bundle:`` (the CAs an https receiver's certificate is checked against) and
``notification_secret:`` (signs commands' own notifications), read without the HTTP client (the
CLI reads settings too). controller/events/webhooks.py delivers; its docstring has the format."""
from __future__ import annotations

import hashlib
import hmac
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from controller.events.bus import EventKind
from controller.notification import check_url, origin_of
from plugins.sdk.errors import InputError
from plugins.sdk.secrets import Secret

SIGNATURE_PREFIX = "sha256="
DEFAULT_MAX_AGE_SECONDS = 300.0
MIN_NOTIFICATION_SECRET_CHARS = 16
_NUMBERS = {"max_attempts": int, "initial_backoff_seconds": float, "max_backoff_seconds": float,
            "timeout_seconds": float}
_KEYS = frozenset({"url", "secret", "events", *_NUMBERS})
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
        check_url(self.url, "url")
        if self.max_attempts < 1 or min(self.initial_backoff_seconds, self.max_backoff_seconds,
                                        self.timeout_seconds) <= 0:
            raise ValueError("max_attempts, backoffs and timeout_seconds must be positive")

    def __repr__(self) -> str:  # the URL may embed a token: its origin only
        return (f"WebhookConfig({self.origin}, secret={self.secret!r}, events={sorted(self.events)}, "
                f"max_attempts={self.max_attempts})")

    @property
    def origin(self) -> str:
        """``scheme://host:port`` only: safe to log."""
        return origin_of(self.url)


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
    check_url(url.strip(), f"{where}.url")
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


def load_notification_secret(raw: object, where: str = "notification_secret") -> Secret | None:
    """``notification_secret:``: signs every command's own notifications; None when not set (a send
    with a notification is then refused, naming it)."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw.strip()) < MIN_NOTIFICATION_SECRET_CHARS:
        raise InputError(where, f"expected a string of at least {MIN_NOTIFICATION_SECRET_CHARS} characters")
    return Secret(raw.strip())


def load_ca_bundle(raw: object, where: str = "webhooks_ca_bundle") -> Path | None:
    """``webhooks_ca_bundle:``: a PEM file of the CAs https receivers are checked against, in place
    of the system's; refused at start when it is not a readable bundle of certificates."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise InputError(where, "expected the path of a PEM file of CA certificates")
    path = Path(raw.strip()).expanduser()
    tls_context(path, where)
    return path


def tls_context(ca_bundle: Path | None, where: str = "webhooks_ca_bundle") -> ssl.SSLContext:
    """The context https deliveries verify with: the system's trust store, or only ``ca_bundle``'s CAs."""
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except FileNotFoundError:
        raise InputError(where, f"{ca_bundle}: no such file") from None
    except ssl.SSLError as exc:  # an OSError too: first
        raise InputError(where, f"{ca_bundle}: not a PEM file of CA certificates ({exc.reason or exc})") from None
    except OSError as exc:
        raise InputError(where, f"{ca_bundle}: cannot read it ({exc.strerror or exc})") from None


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
