"""Trained model artifacts shipped with the package (see docs/model.md)."""
