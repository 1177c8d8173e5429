"""`pipeline_scorer.round_score` is `round(score, 6)`, float for float (the record's
`fraud_score` is written with it)."""

from __future__ import annotations

import math
import random
import struct

from fraud_pipeline.scoring.pipeline_scorer import round_score


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)  # tells -0.0 from 0.0 and compares NaNs


def _check(value: float) -> None:
    assert _bits(round_score(value)) == _bits(round(value, 6)), repr(value)


def test_round_score_is_round_to_six_places_on_random_and_edge_scores() -> None:
    rng = random.Random(6)
    for _ in range(200_000):
        _check(rng.random())
    for _ in range(20_000):  # scores from products of the verdict's kind
        _check(1 - (1 - rng.random()) * (1 - rng.random()) * (1 - rng.choice((0.25, 0.6, 0.7))))
    edges = [0.0, -0.0, 1.0, 5e-324, 1e-7, 4.999999e-7, 5e-7, 5.000001e-7, 0.9999995, 0.99999949999]
    edges += [-1e-9, -0.5, 1.0000001, 2.5, math.inf, -math.inf, math.nan, 1e300]
    for k in range(0, 2**12):  # binary fractions: many are exact halves at the sixth place
        edges.append(k / 2**12)
    for k in rng.sample(range(1_000_001), 20_000):  # the six-place values and their neighbours
        centre = k / 1_000_000
        half = (k + 0.5) / 1_000_000
        for value in (centre, half):
            edges.extend((value, math.nextafter(value, 0.0), math.nextafter(value, 2.0)))
    for value in edges:
        _check(value)
