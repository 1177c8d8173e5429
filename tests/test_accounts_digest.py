"""`tracker._digest` (the name of a folded text in a delta's members) is blake2b (8 bytes, hex) of
the text's UTF-8 with lone surrogates replaced, whichever way it encodes the text: trackers of
every version must name one text alike, or they count it under two names."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii text",
        "caf\u00e9 na\u00efve \u4e2d\u6587 \U0001f600",
        "lone \ud800 surrogate",
        "",
        "x\udfff",
    ],
)
def test_digest_is_blake2b_of_the_texts_utf8_with_replacement(text: str) -> None:
    import hashlib

    from fraud_pipeline.accounts.tracker import _digest

    want = hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()
    assert _digest(text) == want
