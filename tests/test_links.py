"""Link hosts as a browser reads them (WHATWG URL), registrable domains from the public suffix list."""

from __future__ import annotations

import pytest

from fraud_pipeline.ingest.links import link_host, registrable_domain
from fraud_pipeline.ingest.normalize import normalize_event
from fraud_pipeline.scoring.rules import evaluate_rules
from tests.ingest_fixtures import post_event
from tests.test_scoring_rules import QUIET


@pytest.mark.parametrize(
    ("url", "host"),
    [
        # A backslash is a slash in http(s) URLs: the browser goes to the first host, not after '@'.
        ("https://metamask-login.xyz\\@metamask.io/", "metamask-login.xyz"),
        ("https://metamask-login.xyz\\\\@metamask.io/", "metamask-login.xyz"),
        # Userinfo is dropped, the host after it is the one that counts.
        ("https://metamask.io@metamask-login.xyz/", "metamask-login.xyz"),
        # Percent-encoded and full-width letters are mapped (UTS-46), as the browser does.
        ("https://%6detamask-login.xyz/", "metamask-login.xyz"),
        ("https://\uff4d\uff45\uff54\uff41\uff4d\uff41\uff53\uff4b-login.xyz/", "metamask-login.xyz"),
        ("HTTPS://Ex%41mple.COM", "example.com"),
        # Tabs and newlines inside a URL are removed.
        ("https://meta\tmask-lo\ngin.xyz/x", "metamask-login.xyz"),
        # Trailing dots, ports and case.
        ("https://metamask-login.xyz./", "metamask-login.xyz"),
        ("http://a.b.c:8080", "a.b.c"),
        ("https://Example.COM/path", "example.com"),
        # Non-ASCII hosts come out in their ASCII (punycode) form.
        ("https://m\u0435tamask.io/", "xn--mtamask-7gg.io"),
        # IP literals, canonical.
        ("http://[::1]:80/x", "[::1]"),
        ("https://0x7f.1/", "127.0.0.1"),
        # No host, or not a URL a browser would open.
        ("mailto:someone@x.com", None),
        ("https://", None),
        ("not a url", None),
        ("https://exa mple.com/", None),
    ],
)
def test_link_host_is_what_a_browser_goes_to(url: str, host: str | None) -> None:
    assert link_host(url) == host


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("login.metamask.io", "metamask.io"),
        ("metamask.io", "metamask.io"),
        ("a.b.co.uk", "b.co.uk"),
        ("evil.github.io", "evil.github.io"),  # a private suffix: each user's site is its own domain
        ("co.uk", None),
        ("xyz", None),
        ("127.0.0.1", None),
        ("[::1]", None),
    ],
)
def test_registrable_domain_uses_the_public_suffix_list(host: str, domain: str | None) -> None:
    assert registrable_domain(host) == domain


@pytest.mark.parametrize(
    "url",
    [
        "https://metamask-login.xyz\\@metamask.io/",
        "https://%6detamask-login.xyz/connect",
        "https://\uff4d\uff45\uff54\uff41\uff4d\uff41\uff53\uff4b-login.xyz/",
    ],
)
def test_evasive_links_reach_the_lookalike_rule(url: str) -> None:
    """Before: the first read as metamask.io (genuine), the other two escaped the brand match."""
    facets = [{"features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}]}]
    post = normalize_event(post_event("Verify your wallet here", facets=facets)).post
    assert post is not None
    assert post.domains == ["metamask-login.xyz"]
    hits = {h.rule: h for h in evaluate_rules(post, QUIET)}
    assert "lookalike_domain" in hits, hits
    assert "metamask-login.xyz" in hits["lookalike_domain"].reason


def test_the_genuine_site_and_its_subdomains_are_not_lookalikes() -> None:
    for url in ("https://metamask.io/download", "https://support.metamask.io./x", "https://METAMASK.io"):
        facets = [{"features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}]}]
        post = normalize_event(post_event("New release notes", facets=facets)).post
        assert post is not None
        assert "lookalike_domain" not in {h.rule for h in evaluate_rules(post, QUIET)}, url


def test_a_campaign_rotating_subdomains_shares_one_registrable_domain() -> None:
    """Campaign evidence counts the registrable domain: `u1.tips.xyz` and `u2.tips.xyz` are one
    site; `tips1.xyz` and `tips2.xyz` are not."""
    from fraud_pipeline.scoring.signals import BehaviorTracker
    from tests.test_behaviour import SCAM, T0, _linked

    subdomains = [_linked(i, SCAM, T0 + i * 5_000_000, domain=f"u{i}.tips-site.xyz") for i in range(40)]
    assert BehaviorTracker().observe_batch(subdomains)[-1].campaign_shared_domain
    sites = [_linked(i, SCAM, T0 + i * 5_000_000, domain=f"tips{i}.xyz") for i in range(40)]
    assert not BehaviorTracker().observe_batch(sites)[-1].campaign_shared_domain
    hosted = [_linked(i, SCAM, T0 + i * 5_000_000, domain=f"tips{i}.github.io") for i in range(40)]
    assert not BehaviorTracker().observe_batch(hosted)[-1].campaign_shared_domain  # a public suffix
