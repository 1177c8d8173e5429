"""The canonical text view: each evasion undone, legitimate text in other scripts untouched,
the campaign fingerprint blind to obfuscation, the evasion evidence on the right texts, and
the seeded rewrites used for augmentation and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.scoring.canonical import (
    canonical,
    evasion_evidence,
    fingerprint_text,
    lookalike_brand,
    model_view,
    model_views,
    skeleton,
    text_views,
)
from fraud_pipeline.scoring.rewrites import REWRITES, cyrillic_lookalikes, rewrite, rewrite_all
from fraud_pipeline.scoring.rules import evaluate_rules
from fraud_pipeline.scoring.signals import PostSignals, campaign_fingerprint
from fraud_pipeline.scoring.training import TrainParams, augmented_rows
from tests.scoring_fixtures import make_post

REPO = Path(__file__).resolve().parent.parent
PLAIN = "Claim your free airdrop now and connect your wallet before it ends"
QUIET = PostSignals(
    account_posts_window=1,
    account_is_new=False,
    campaign_id=None,
    campaign_accounts=1,
    media_reuse_accounts=0,
)

# Crafted by hand, one per rewrite the issue lists (not produced by `rewrites.py`).
OBFUSCATED = {
    # Cyrillic а, е, о, у, с, р, і inside Latin words.
    "cyrillic": "Clаim уоur frее аirdrop now аnd сonnect your wallet bеfore іt ends",
    # Zero-width space, zero-width joiner, soft hyphen and a bidi mark between letters.
    "invisible": (
        "Cl\u200baim yo\u200dur fr\u00adee air\u200edrop now and connect your wal\u200blet before it ends"
    ),
    "fullwidth": "Ｃｌａｉｍ ｙｏｕｒ ｆｒｅｅ ａｉｒｄｒｏｐ now and connect your wallet before it ends",
    "spaced": "Claim your f r e e  a i r d r o p now and connect your wallet before it ends",
    "leet": "Cl4im y0ur fr33 4irdr0p n0w and c0nn3ct y0ur w4ll3t before it ends",
}

# Ordinary posts in other scripts, and between-word mixing (a product named in Latin).
LEGITIMATE = {
    "russian": "Сегодня отличная погода, пойдём гулять в парк вечером",
    "russian_with_product": "Купил новый iPhone и очень доволен камерой",
    "greek_with_product": "Το Spotify wrapped μου είναι γεμάτο Taylor Swift",  # Το: all lookalikes
    "japanese": "今日は新しいTシャツを買いました。とても気に入っています！",
    "greek": "Καλημέρα σε όλους, ο καιρός είναι υπέροχος σήμερα",
    "persian_zwnj": "می\u200cخواهم امروز به پارک بروم",
    "emoji_zwj": "Family day 👨\u200d👩\u200d👧 at the beach ❤\ufe0f",
    "chinese_fullwidth_punctuation": "今天天气很好，我们去公园吧！",
    "japanese_fullwidth_latin": "ＳＮＳで話題のカフェに行ってきました",
}


@pytest.mark.parametrize("kind", sorted(OBFUSCATED))
def test_each_rewrite_reads_as_the_plain_text(kind: str) -> None:
    views = text_views(OBFUSCATED[kind])
    reading = views.leet if kind == "leet" else views.canonical
    assert " ".join(reading.lower().split()) == PLAIN.lower()


def test_cyrillic_lookalikes_fold_only_inside_latin_writing() -> None:
    assert canonical("Send your ВТС now") == "Send your BTC now"  # a whole lookalike word in a Latin post
    assert canonical("Меtаmаsk support") == "Metamask support"
    assert canonical("ɑirdrop") == "airdrop"  # a Latin-script lookalike (UTS #39: ɑ -> a)


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_legitimate_text_in_other_scripts_keeps_its_letters(name: str) -> None:
    text = LEGITIMATE[name]
    views = text_views(text)
    assert views.evidence == evasion_evidence("plain ascii")  # all zero
    # No letter of another script is folded into a Latin one.
    for original, kept in zip(
        [ch for ch in text if ch.isalpha()], [ch for ch in views.canonical if ch.isalpha()], strict=False
    ):
        if not original.isascii() and kept.isascii():
            assert original in "ＳＮ", (original, kept)  # only NFKC's full-width -> ASCII
    hits = {hit.rule for hit in evaluate_rules(make_post(1, text), QUIET)}
    assert not hits & {"mixed_script_words", "invisible_in_words", "fullwidth_latin", "brand_lookalike_text"}


def test_russian_greek_and_japanese_sentences_are_unchanged() -> None:
    for name in ("russian", "russian_with_product", "greek", "greek_with_product"):
        assert canonical(LEGITIMATE[name]) == LEGITIMATE[name]
    # Japanese is only NFKC-normalised (full-width punctuation and letters become ASCII).
    assert canonical(LEGITIMATE["japanese"]) == LEGITIMATE["japanese"].replace("！", "!")
    assert canonical(LEGITIMATE["japanese_fullwidth_latin"]).startswith("SNSで話題")


def test_skeleton_is_equal_for_confusable_strings() -> None:
    assert skeleton("pаypаl") == skeleton("paypal")  # Cyrillic а
    assert skeleton("PayPaI") == skeleton("PayPal")  # capital I for l
    assert skeleton("paypal") != skeleton("paypa")


@pytest.mark.parametrize("kind", sorted(OBFUSCATED))
def test_campaign_fingerprint_equal_for_a_text_and_its_obfuscated_copy(kind: str) -> None:
    assert campaign_fingerprint(OBFUSCATED[kind], 24) == campaign_fingerprint(PLAIN, 24)
    assert campaign_fingerprint(PLAIN.upper(), 24) == campaign_fingerprint(PLAIN, 24)
    assert fingerprint_text(OBFUSCATED[kind]).split() == fingerprint_text(PLAIN).split()


def test_fingerprint_still_folds_amounts_and_keeps_other_texts_apart() -> None:
    a = campaign_fingerprint("Send 0.1 BTC and get 0.2 BTC back from our official giveaway today", 24)
    b = campaign_fingerprint("Send 0.5 ВТС and get 1.0 BTC back from our official giveaway today", 24)
    assert a is not None and a == b
    evening = campaign_fingerprint("Сегодня отличная погода, пойдём гулять в парк вечером", 24)
    assert evening is not None
    assert evening != campaign_fingerprint("Сегодня отличная погода, пойдём гулять в парк утром", 24)


def test_evasion_evidence_counts_on_obfuscated_texts() -> None:
    assert evasion_evidence(OBFUSCATED["cyrillic"]).mixed_script_words == 8
    assert evasion_evidence(OBFUSCATED["invisible"]).invisible_in_words == 5
    assert evasion_evidence(OBFUSCATED["fullwidth"]).fullwidth_latin == 20
    assert evasion_evidence(OBFUSCATED["spaced"]).spaced_out_words == 2
    assert evasion_evidence(OBFUSCATED["leet"]).leet_words == 8
    plain = evasion_evidence(PLAIN)
    assert (plain.mixed_script_words, plain.invisible_in_words, plain.fullwidth_latin) == (0, 0, 0)
    # Full-width Latin beside kana is Japanese typography; beside ASCII letters it is a trick.
    assert evasion_evidence("ＳＮＳで話題のカフェ").fullwidth_latin == 0
    assert evasion_evidence("今日は ｆrｅe airdrop").fullwidth_latin == 2


def test_evasion_rules_fire_on_obfuscation_and_brand_lookalikes() -> None:
    def rules(text: str) -> set[str]:
        return {hit.rule for hit in evaluate_rules(make_post(1, text), QUIET)}

    assert "mixed_script_words" in rules(OBFUSCATED["cyrillic"])
    assert "invisible_in_words" in rules(OBFUSCATED["invisible"])
    assert "fullwidth_latin" in rules(OBFUSCATED["fullwidth"])
    assert "brand_lookalike_text" in rules("Verify your Меtаmаsk wallet here")
    assert "brand_lookalike_text" in rules("c0inbase support will help you")
    assert "brand_lookalike_text" not in rules("I use metamask and coinbase daily")
    brands = load_default_policy().spec.lists.impersonated_brands
    assert lookalike_brand(text_views("l e d g e r live update"), brands) == "ledger"
    assert rules(PLAIN) & {"mixed_script_words", "invisible_in_words", "fullwidth_latin"} == set()


@pytest.mark.parametrize("kind", sorted(OBFUSCATED))
def test_text_rules_read_the_canonical_text(kind: str) -> None:
    hits = {hit.rule for hit in evaluate_rules(make_post(1, OBFUSCATED[kind]), QUIET)}
    assert {"crypto_giveaway", "wallet_request"} <= hits


def test_leet_view_leaves_ordinary_alphanumerics_alone() -> None:
    text = "web3 and mp3 at 24h, 2x gains gr8 stuff, $SOL @user1 call 0800123456 Vegas113 3rd 5pm"
    assert text_views(text).leet == text
    assert model_view(text) == text
    assert model_view("fr33 4irdr0p") == "fr33 4irdr0p\nfree airdrop"


def test_batch_view_equals_the_per_text_view() -> None:
    rows = (REPO / "data" / "labeled" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    texts: list[object] = [json.loads(line)["text"] for line in rows[:1500]]
    texts += list(OBFUSCATED.values()) + list(LEGITIMATE.values()) + [None, 42, "", "a b c d"]
    assert model_views(texts) == [model_view(text) for text in texts]


def test_rewrites_are_seeded_and_deterministic() -> None:
    for kind in REWRITES:
        first = rewrite_all([PLAIN, PLAIN, "another scam text"], kind, seed=7)
        assert first == rewrite_all([PLAIN, PLAIN, "another scam text"], kind, seed=7)
        assert rewrite(PLAIN, kind, seed=7, row=1) == first[1]  # row-seeded: order does not matter
        assert first[0] != PLAIN
    assert rewrite(PLAIN, "cyrillic", 1, 0) != rewrite(PLAIN, "cyrillic", 2, 0)
    with pytest.raises(ValueError, match="unknown rewrite"):
        rewrite(PLAIN, "rot13")


@pytest.mark.parametrize("kind", REWRITES)
def test_each_generated_rewrite_is_undone(kind: str) -> None:
    rewritten = rewrite(PLAIN, kind, seed=3)
    views = text_views(rewritten)
    reading = views.leet if kind == "leet" else views.canonical
    if kind == "spaced":  # spaced-out neighbours run together: the letters survive in order
        assert reading.replace(" ", "").lower() == PLAIN.replace(" ", "").lower()
    elif kind == "leet":  # 1 stands for both i and l (read as i); `i7`, `4nd` are too short to tell
        words = [w for w in PLAIN.lower().replace("l", "i").split() if len(w) > 3]
        assert [w for w in reading.lower().replace("l", "i").split() if len(w) > 3] == words
    else:
        assert reading == PLAIN


def test_cyrillic_lookalikes_come_from_the_uts39_data() -> None:
    table = cyrillic_lookalikes()
    assert table["a"] == "\u0430" and table["e"] == "\u0435" and table["o"] == "\u043e"
    assert all("\u0400" <= ch <= "\u052f" for ch in table.values())


def test_training_augmentation_is_seeded_and_picks_the_rows_asked_for() -> None:
    texts = [PLAIN, "hi mum, dinner at 7?", "Send your seed phrase to verify the wallet", "see you soon"]
    labels = np.array([1, 0, 1, 0], dtype=np.int8)
    weights = np.array([2.0, 1.0, 1.0, 1.0])
    params = TrainParams(seed=5, augment_per_row=0, augment_benign=False, augment_weight=0.2)
    copies, copy_labels, copy_weights = augmented_rows(texts, labels, weights, params)
    assert len(copies) == 2 * len(REWRITES) and set(copy_labels.tolist()) == {1}
    assert copies == [rewrite(texts[row], kind, 5, row) for row in (0, 2) for kind in REWRITES]
    np.testing.assert_allclose(copy_weights, np.repeat([2.0, 1.0], len(REWRITES)) * params.augment_weight)
    again = augmented_rows(texts, labels, weights, params)
    assert again[0] == copies and np.array_equal(again[2], copy_weights)
    assert not any("mum" in copy or "soon" in copy for copy in copies)
    # The default: one seeded rewrite per row, benign rows too.
    both = TrainParams(seed=5)
    copies, copy_labels, copy_weights = augmented_rows(texts, labels, weights, both)
    assert len(copies) == 4 and copy_labels.tolist() == [1, 0, 1, 0]
    assert copies == augmented_rows(texts, labels, weights, both)[0]
    np.testing.assert_allclose(copy_weights, weights * 0.5)


def test_hand_written_benign_posts_in_other_and_mixed_scripts_show_no_evasion() -> None:
    path = REPO / "data" / "evaluation" / "benign_scripts.jsonl"
    rows = path.read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in rows if line]
    assert len(texts) == 40
    zero = evasion_evidence("plain ascii")
    for i, text in enumerate(texts):
        assert evasion_evidence(text) == zero, text
        hits = {hit.rule for hit in evaluate_rules(make_post(i, text), QUIET)}
        assert not hits & {
            "mixed_script_words",
            "invisible_in_words",
            "fullwidth_latin",
            "brand_lookalike_text",
        }


def test_plain_ascii_texts_are_their_own_views_exactly_when_the_full_reading_says_so() -> None:
    """The ASCII fast path of `text_views` (`_plain_ascii`) never says "plain" of a text the
    full reading would change (spaced-out letters, leetspeak), on the labelled data, its
    seeded rewrites and hand-made edge cases; and it does answer for most ordinary posts."""
    from fraud_pipeline.scoring.canonical import _analyse, _leet, _plain_ascii, _views_of

    texts = [
        json.loads(line)["text"] for line in (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    ]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += ["f r e e", "x.y.z now", "a  b   c", "a    b c d", "fr33", "$eth @me", "I a m", "_ a _", "c0in"]
    fast = really = 0
    for text in {t for t in texts if t.isascii()}:
        canonical_text, mixed, spaced = _analyse(text)
        leet, changed = _leet(canonical_text)
        plain = canonical_text == text and leet == text and not (mixed or spaced or changed)
        really += plain
        if _plain_ascii(text):
            fast += 1
            assert plain, text
            assert text_views(text) == _views_of(text)
    assert fast > 0.7 * really


def _reference_fold(text: str) -> str:
    """`fold_text` by its definition, without its fast paths: the fingerprint reading's
    tokens, links dropped, punctuation to space and digits to 0 by `str.translate`, spaces
    collapsed by `str.split` (which also splits on \\x1c-\\x1f and on spaces outside ASCII)."""
    import string

    table = {ord(c): " " for c in string.punctuation} | {ord(d): "0" for d in string.digits}
    tokens = fingerprint_text(text).split()
    kept = [t for t in tokens if not ("/" in t or "." in t.strip(".,!?;:)(\"'"))]
    return " ".join(" ".join(kept).translate(table).split())


def _reference_fingerprint(text: str) -> str:
    """`fingerprint_text` by its definition: one `str.translate` through the skeleton letters."""
    import unicodedata

    from fraud_pipeline.scoring.canonical import _views_of, tables

    leet = _views_of(text).leet.lower()
    if leet.isascii():
        return leet
    return unicodedata.normalize("NFD", leet).translate(tables().skeleton_letters).lower()


def test_fold_and_fingerprint_fast_paths_equal_their_definitions() -> None:
    """`fold_text` skips the link pass when no `.` sits inside a token and folds through
    bytes when it can; `fingerprint_text` replaces the few skeleton characters a text holds
    rather than translating every character. Both equal the plain definitions on the
    labelled data, its rewrites and edge cases: links and dotted words, `str.split`'s
    whitespace outside ASCII and in \\x1c-\\x1f, lone surrogates, letters the skeleton maps
    (`m` to `rn`, Cyrillic and Greek lookalikes, a combining accent)."""
    from fraud_pipeline.scoring.canonical import _fold, fold_text

    texts = [
        json.loads(line)["text"] for line in (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    ]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += [
        "see x.com/abc now.",
        "e.g. this (a.b) and 'x'.y, ok...",
        "wait...what?! 3.5 mm",
        "end. Next",
        "a..b c,.d",
        "tab\tsep\x1cunit\x1fsep",
        "no\xa0break\u3000wide\u2028line\x85next é",
        "lone \ud800 surrogate, 42 é",
        "mom's Iphone ⅿ ı",
        "Сlаim frее ΑΙRDROP né ﬁne",
        "",
    ]
    for text in texts:
        assert _fold(text) == fold_text(text) == _reference_fold(text), text
        assert fingerprint_text(text) == _reference_fingerprint(text), text


def test_the_leet_contact_check_answers_as_the_pattern_on_any_text() -> None:
    """`_no_leet_contact` (bytes, every character outside ASCII as one `?`) says "no contact"
    exactly when `_LEET_CANDIDATE` finds none, on the labelled data, its rewrites (lookalike
    letters, full-width, invisible characters) and edge cases around characters outside ASCII."""
    from fraud_pipeline.scoring.canonical import _LEET_CANDIDATE, _no_leet_contact

    texts = [
        json.loads(line)["text"] for line in (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    ]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += ["é1", "1é", "a€1", "fr33 ü", "\ud800a1", "ａ1", "a?1", "?1a", "x", ""]
    contacts = 0
    for text in texts:
        expected = _LEET_CANDIDATE.search(text) is None
        assert _no_leet_contact(text) == expected, text
        contacts += not expected
    assert contacts > 500


def _reference_leet(text: str) -> tuple[str, list[str]]:
    """`_leet` by its definition: each `_LEET_CANDIDATE` widened, character by character, to
    its whole run of `_LEET_WORD_CHARS`, each run read once."""
    from fraud_pipeline.scoring.canonical import _LEET_CANDIDATE, _LEET_WORD_CHARS, _read_leet_word

    changed: list[str] = []
    parts: list[str] = []
    last = 0
    for match in _LEET_CANDIDATE.finditer(text):
        start = match.start()
        if start < last:
            continue
        while start > 0 and text[start - 1] in _LEET_WORD_CHARS:
            start -= 1
        end = match.end()
        while end < len(text) and text[end] in _LEET_WORD_CHARS:
            end += 1
        read_as = _read_leet_word(text[start:end])
        parts.append(text[last:start])
        parts.append(read_as[0] if read_as is not None else text[start:end])
        if read_as is not None:
            changed.append(read_as[1])
        last = end
    if not changed:
        return text, []
    parts.append(text[last:])
    return "".join(parts), changed


def test_the_leet_view_reads_whole_runs_as_its_definition_does() -> None:
    """`_leet` finds each run of letters, digits, `@` and `$` holding a letter-digit contact
    with one pattern (`_LEET_RUN`); its view and the words it changed equal those of the
    definition (each contact widened to its run character by character) on the labelled data,
    its rewrites (leetspeak among them) and edge cases: runs at the ends, several contacts in a
    run, mentions, cashtags, runs beside characters outside ASCII."""
    from fraud_pipeline.scoring.canonical import _leet

    texts = [
        json.loads(line)["text"] for line in (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    ]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += [
        "fr33",
        "fr33 4irdr0p",
        "@fr33 $eth",
        "a1b2c3d4",
        "c0in$",
        "x1",
        "1x",
        "é1a",
        "fr33é",
        "a1 b1 fr33",
    ]
    texts += ["w3b3 fr33-g1v34w4y", "@@fr33$$", "5pm 3rd mp3 web3 Vegas113", "ａ1 fr33ｘ", "\ud800fr33", ""]
    changed = 0
    for text in texts:
        assert _leet(text) == _reference_leet(text), text
        changed += bool(_leet(text)[1])
    assert changed > 100


def test_the_spaced_letters_precheck_never_says_no_where_the_search_finds_one() -> None:
    """`_maybe_spaced_wide` (UTF-8 bytes, each letter outside ASCII written as one `w`) is a
    superset of `_SPACED`: on the labelled data, its rewrites (spaced-out letters among them)
    and edge cases with `·`, `_`, `?` and letters outside ASCII; and it does say no to most
    ordinary texts."""
    from fraud_pipeline.scoring.canonical import _SPACED, _maybe_spaced_wide, _wide_parts, tables

    texts = [
        json.loads(line)["text"] for line in (REPO / "data/labeled/train.jsonl").read_text().splitlines()
    ]
    texts += [rewrite(t, REWRITES[i % len(REWRITES)], row=i) for i, t in enumerate(texts[:3000])]
    texts += [
        "f·r·e·e",
        "f_r_e_e",
        "é l a n",
        "a ? b ? c",
        "x é y z",
        "ф р е е",
        "a.b.c",
        "1 2 3",
        "a   b   c",
    ]
    found = said_no = 0
    for text in texts:
        hit = _SPACED.search(text) is not None
        maybe = _maybe_spaced_wide(*_wide_parts(text, tables()))
        assert maybe or not hit, text
        found += hit
        said_no += not maybe
    assert found > 300 and said_no > len(texts) // 2


def test_the_character_tables_as_re_classes_hold_exactly_their_sets() -> None:
    """`tables()` keeps the invisible characters (`_INVISIBLE_CLASS`, a `regex` property
    class), the lookalikes and the skeleton's letters of the BMP also as stdlib `re` classes,
    for one C-level scan per text without characters beyond the BMP: over every code point of
    the BMP (surrogates too) each class matches exactly its set, and texts beyond it are told."""
    from fraud_pipeline.scoring.canonical import _INVISIBLE, _beyond_bmp, _has_invisible, tables

    t = tables()
    bmp = np.arange(0x10000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    every = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    assert [m.span() for m in t.invisible.finditer(bmp)] == [m.span() for m in _INVISIBLE.finditer(bmp)]
    assert "\u200b" in t.invisible.findall("a\u200bb")[0] and t.invisible.search("plain ascii") is None
    assert set(t.lookalike.findall(bmp)) == {ch for ch in t.lookalikes if ch <= "\uffff"}
    assert set(t.skeleton_letter.findall(bmp)) == {chr(code) for code in t.skeleton_letters if code <= 0xFFFF}
    # Beyond the BMP the sets themselves are asked (`_beyond_bmp`); they do hold such characters.
    assert _beyond_bmp(every) and not _beyond_bmp(bmp) and not _beyond_bmp("")
    assert _has_invisible("tag\U000e0041", t) and not _has_invisible("\U0001d41a", t)
    assert any(ch > "\uffff" for ch in t.lookalikes)
