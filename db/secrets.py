"""Masking secrets in what we print or log: URLs with credentials, keys echoed back by a server."""
from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(?::[^/@\s]*)?@")


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db (also for http(s) endpoints)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}"))


def mask_text(text: str, *secrets: str) -> str:
    """Any URL credentials in `text` and each given secret replaced by ***."""
    masked = USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@" if m.group("user")
                          else f"{m.group('scheme')}***@", text)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, "***")
    return masked
