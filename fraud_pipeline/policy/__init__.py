"""The detection policy: thresholds, rules, lists and windows as validated, versioned data.

`policy/*.yaml` (top level of the project) is the policy; this package reads it
(`source.py`), validates it (`loader.py`, `schema.py`, `conditions.py`) and keeps it
current in a running scorer (`runtime.py`). See docs/detection.md.
"""

from fraud_pipeline.policy.loader import Policy, PolicyError, PolicyProblem, load_policy
from fraud_pipeline.policy.source import default_policy_dir, load_default_policy

__all__ = [
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "default_policy_dir",
    "load_default_policy",
    "load_policy",
]
