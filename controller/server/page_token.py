"""Page tokens: where the next page of a listing starts, opaque to the caller. A token is the last
key of the page it ends, base64url-encoded with a tag, so that anything else is refused by name
instead of silently starting somewhere."""
from __future__ import annotations

import base64
import binascii

_TAG = "k1:"


def encode(last_key: str) -> str:
    return base64.urlsafe_b64encode((_TAG + last_key).encode()).decode().rstrip("=")


def decode(token: str) -> str:
    """The key the next page comes after; "" for the first page. ValueError for a token this
    controller did not give."""
    if not token:
        return ""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(_TAG) or len(raw) == len(_TAG):
        raise ValueError(f"{token[:40]!r} is not a page token from this listing")
    return raw[len(_TAG):]
