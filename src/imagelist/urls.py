"""URL helpers: credentials in URLs, redaction, origins, scheme strength, Location quoting.

Pure string work (no HTTP): the fetcher, the downloader, the subscriber's decisions and the
status report all use them, so that a pure module never imports :mod:`imagelist.fetch`.
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "RANK",
    "quote_location",
    "redact_url",
    "redact_url_safe",
    "same_origin",
    "scheme_rank",
    "split_credentials",
]

#: How strong a transport is; a redirect may only keep or raise it.
RANK = {"http": 1, "https": 2}


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:pass@host/x`` → (``https://host/x``, ``user``, ``pass``), percent-decoded.

    URLs without credentials come back unchanged with (None, None).
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, has_password, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if has_password else None


def redact_url(url: str) -> str:
    """The URL with any ``user:password@`` removed, for messages and logs."""
    return split_credentials(url)[0]


def redact_url_safe(url: str) -> str:
    """Like :func:`redact_url`, for URLs that may not even parse."""
    try:
        return redact_url(url)
    except ValueError:
        return "<invalid URL>"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def same_origin(first: str, second: str) -> bool:
    """Whether two URLs have the same scheme, host and port (default ports made explicit)."""
    try:
        return _origin(first) == _origin(second)
    except ValueError:
        return False


def scheme_rank(url: str) -> int:
    """How strong a URL's transport is: 2 https, 1 http, 0 anything else (file, ...)."""
    return RANK.get(urlsplit(url).scheme.lower(), 0)


def quote_location(location: str) -> str:
    """Percent-encode spaces and non-ASCII in a Location header, keeping reserved characters."""
    return quote(location, safe="%/:=&?~#+!$,;'@()*[]")
