"""Link hosts read the way a browser reads them, and their registrable domains.

A phishing link is judged by where a click lands, so the host must be the one a browser
goes to, not what a hand-written splitter guesses: `https://metamask-login.xyz\\@metamask.io/`
goes to metamask-login.xyz (a backslash is a slash in http(s) URLs, so `@metamask.io` is
path), `https://%6detamask-login.xyz` and full-width letters map to `metamask-login.xyz`,
tabs and newlines inside a URL are dropped. The WHATWG URL standard defines all of this;
`ada-url` (Python binding of ada, the parser in Node.js) implements it, including IDNA/UTS-46
mapping to the ASCII (punycode) form, so hosts here are what browsers resolve.

Registrable domains ("eTLD+1": `login.metamask.io` -> `metamask.io`, `a.b.co.uk` -> `b.co.uk`,
`x.github.io` stays itself) come from the public suffix list shipped inside the
`publicsuffixlist` package: nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import lru_cache

import ada_url
from publicsuffixlist import PublicSuffixList

_HOSTNAME = ("hostname",)
_PSL = PublicSuffixList()
_HOST_CACHE = 65_536  # distinct hosts remembered for registrable_domain (a few MB at most)


def link_host(url: str) -> str | None:
    """The host a browser would connect to, lower-case ASCII without trailing dot; None if none.

    IPv6 literals keep their brackets (`[::1]`); IPv4 is canonical (`0x7f.1` -> `127.0.0.1`).
    URLs a browser would refuse, and URLs without a host (`mailto:`), give None.
    """
    try:
        host = ada_url.parse_url(url, attributes=_HOSTNAME)["hostname"]
    except ValueError:
        return None
    host = host.rstrip(".")
    return host or None


@lru_cache(maxsize=_HOST_CACHE)
def registrable_domain(host: str) -> str | None:
    """The registrable domain (public suffix + one label) of a host; None for IPs, bare suffixes."""
    if not host or host.startswith("[") or _is_ipv4(host):
        return None
    return _PSL.privatesuffix(host.rstrip(".").lower())


def _is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(part.isdigit() for part in parts)
