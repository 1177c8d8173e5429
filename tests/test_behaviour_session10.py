"""The behaviour tracker's one sketch per process (session 10): trackers with the same sketch
parameters share it, and it is what a fresh build gives. (The store asked only where the
tracker's sets live, `get_members(keys, ttl_s)`, is held in tests/test_state.py.)"""

from __future__ import annotations

from dataclasses import replace

from fraud_pipeline.scoring.signals import BehaviorTracker, NearDuplicateSketch


def test_trackers_with_the_same_sketch_parameters_share_one_sketch() -> None:
    one, two = BehaviorTracker(), BehaviorTracker()
    assert one.sketch is two.sketch
    other = BehaviorTracker(params=replace(one.params, campaign_bar=0.9))  # not a sketch parameter
    assert other.sketch is one.sketch
    changed = BehaviorTracker(params=replace(one.params, shingle_chars=one.params.shingle_chars + 1))
    assert changed.sketch is not one.sketch
    assert changed.sketch.shingle_chars == one.params.shingle_chars + 1
    fresh = NearDuplicateSketch(changed.params)  # the shared one is what a fresh build gives
    assert fresh.hashranges == changed.sketch.hashranges
    assert (fresh.permutations[0] == changed.sketch.permutations[0]).all()
