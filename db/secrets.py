"""Masking secrets in what we print or log: one function for every URL (credentials in the user:password part and
in the query string), keys echoed back by a server."""
from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(?::[^/@\s]*)?@")
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|sig|credential", re.IGNORECASE)
SECRET_PARAM = re.compile(r"(?P<name>[?&;][^=&\s#?]*(?:pass|pwd|secret|token|key|auth|sig|credential)[^=&\s#?]*=)"
                          r"(?P<value>[^&\s#'\"]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db?sslpassword=x -> postgresql://user:***@host/db?sslpassword=*** (any scheme)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is not None or "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[-1]
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:***@{host}" if user else f"***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(SECRET_NAME.search(name) for name, _ in query):
        masked = [(name, "***" if SECRET_NAME.search(name) else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    return urlunsplit(parts)


def mask_text(text: str, *secrets: str) -> str:
    """Any URL credentials in `text` (user:password and secret-looking query parameters) and each given secret
    replaced by ***."""
    masked = USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:***@" if m.group("user")
                          else f"{m.group('scheme')}***@", text)
    masked = SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", masked)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, "***")
    return masked
