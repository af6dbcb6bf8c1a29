"""Canonical URLs: the same article behind different tracking links has one URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "oly_", "__hs")
_TRACKING_KEYS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mkt_tok",
        "cmpid", "ncid", "ocid", "ito", "smid", "taid", "src", "ref", "ref_src", "referrer",
        "share", "sh", "s_cid", "spm", "_ga", "_gl", "guccounter", "guce_referrer",
    }
)  # fmt: skip


def canonical_url(url: str) -> str | None:
    """Return ``url`` with a lower-case scheme and host, no fragment, no default port and no tracking parameters.

    Returns None when ``url`` is not an absolute http(s) URL.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal: urlsplit drops its brackets
        host = f"[{host}]"
    if port and not (scheme == "http" and port == 80) and not (scheme == "https" and port == 443):
        host = f"{host}:{port}"
    query = ""
    if parts.query:  # most article URLs have none: skip the parse and the encoding
        kept = [
            (key, value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if key.lower() not in _TRACKING_KEYS and not key.lower().startswith(_TRACKING_PREFIXES)
        ]
        query = urlencode(kept, doseq=True)
    return urlunsplit((scheme, host, parts.path or "/", query, ""))
