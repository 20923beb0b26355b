"""Masking secrets in what we print or log: one function for every URL (credentials in the user:password part, a
token used as the user name, secret-looking parameters in the query string or the fragment), keys echoed back by a
server. Everything else in a URL is printed exactly as given (`sqlite:////abs/app.db` keeps its four slashes)."""
from __future__ import annotations

import re

URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]*")
SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>.*)$", re.DOTALL)
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|auth|sig|credential", re.IGNORECASE)
SECRET_PARAM = re.compile(r"(?P<name>[?&;#][^=&\s#?]*(?:pass|pwd|secret|token|key|auth|sig|credential)[^=&\s#?]*=)"
                          r"(?P<value>[^&;\s#'\"]*)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """postgresql://user:secret@host/db?sslpassword=x -> postgresql://user:***@host/db?sslpassword=*** (any scheme).

    The credentials end at the last '@' before the query or fragment (a password may hold an unencoded '@' or '/');
    with no password, the user part is masked on web URLs (there it is often a token) and kept on database URLs
    (there it is a user name). Nothing else changes."""
    match = SCHEME.match(url)
    if match is None:
        return SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", url)
    rest = match.group("rest")
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at >= 0 and ("/" not in rest[:at] or ":" in rest[:at].split("/", 1)[0]):
        userinfo = rest[:at]
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            masked_user = f"{user}:***" if user and "/" not in user else "***"
        else:
            masked_user = user if is_database(match.group("scheme")) and "/" not in user else "***"
        rest = f"{masked_user}@{rest[at + 1:]}"
    return match.group("scheme") + SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", rest)


def url_secrets(url: str) -> list[str]:
    """The credentials inside a URL as we read it (the password up to the last '@', or a user-only token), and the
    pieces an unencoded '@' splits it into, as a driver may print them ('host ss-secret@127.0.0.1'): to mask in
    messages that quote them."""
    match = SCHEME.match(url)
    if match is None:
        return []
    rest = match.group("rest")
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        return []
    user, has_password, password = rest[:at].partition(":")
    secret = password if has_password else "" if is_database(match.group("scheme")) else user
    return [secret, *(piece for piece in secret.split("@") if len(piece) >= 4)] if secret else []


def is_database(scheme: str) -> bool:
    """A database URL's scheme (postgresql+psycopg://, sqlite:///...), not a web service's."""
    return not scheme.lower().startswith(("http", "ws"))


def mask_text(text: str, *secrets: str) -> str:
    """Every URL in `text` masked as `mask_url` does, and each given secret replaced by ***."""
    masked = URL.sub(lambda m: mask_url(m.group(0)), text)
    masked = SECRET_PARAM.sub(lambda m: f"{m.group('name')}***", masked)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, "***")
    return masked
