"""Real-time fraud and scam detection for Bluesky."""


def compiled() -> bool:
    """True when the scoring hot path runs from the compiled build (every module of
    `compiled_build.COMPILED_MODULES` loaded as a mypyc extension), False for the pure source."""
    from fraud_pipeline.compiled_build import build

    return build() == "compiled"
