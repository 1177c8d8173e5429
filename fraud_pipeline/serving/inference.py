"""The inference handler SageMaker's framework containers call: model_fn, input_fn, predict_fn, output_fn.

Request: `application/json`, either a list of texts or `{"instances": [...]}` (an instance
may also be `{"text": "..."}`). Reply: `[{"score": p, "is_fraud": bool}, ...]` in request
order, `score` the calibrated fraud probability. A malformed request raises `InvalidInput`
(the server answers 400 with its message), an unsupported content type `UnsupportedMediaType`
(415).

This module and the model modules it imports need numpy only; `fraud-pipeline model
package` copies them into the archive's `code/` folder, so the container needs no
fraud_pipeline install.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fraud_pipeline.scoring.text_model import BUNDLED_ARTIFACT, LinearTextModel

JSON = "application/json"
MAX_INSTANCES = 10_000


class InvalidInput(ValueError):
    """The request body is not what the contract accepts (HTTP 400)."""


class UnsupportedMediaType(ValueError):
    """The request or accept content type is not JSON (HTTP 415 / 406)."""


def custom_attributes(model: LinearTextModel) -> str:
    """The value of `X-Amzn-SageMaker-Custom-Attributes`: who answered, at which threshold."""
    return f"version={model.version};threshold={model.threshold!r}"


def model_fn(model_dir: str) -> LinearTextModel:
    """Load the artifact from the unpacked model.tar.gz (`text_model.json` at its root)."""
    path = Path(model_dir) / BUNDLED_ARTIFACT
    if not path.exists():
        candidates = sorted(Path(model_dir).glob("*.json"))
        if not candidates:
            raise FileNotFoundError(f"no {BUNDLED_ARTIFACT} in {model_dir}")
        path = candidates[0]
    return LinearTextModel.load(path)


def _media_type(content_type: str | None) -> str:
    return (content_type or JSON).split(";", 1)[0].strip().lower()


def input_fn(request_body: bytes | str, request_content_type: str | None = JSON) -> list[str]:
    """Parse the body into a list of texts, or say precisely what is wrong with it."""
    media = _media_type(request_content_type)
    if media != JSON:
        raise UnsupportedMediaType(f"content type {media!r} is not supported; send {JSON}")
    try:
        payload = json.loads(request_body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # the stdlib parser recurses once per nesting level
        raise InvalidInput("body is nested too deeply to be a list of texts") from exc
    if isinstance(payload, dict):
        if "instances" not in payload:
            raise InvalidInput('a JSON object body needs an "instances" list')
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise InvalidInput(
            f'expected a list of texts or {{"instances": [...]}}, got {type(payload).__name__}'
        )
    if len(payload) > MAX_INSTANCES:
        raise InvalidInput(f"at most {MAX_INSTANCES} instances per request, got {len(payload)}")
    texts: list[str] = []
    for position, item in enumerate(payload):
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            item = item["text"]
        if not isinstance(item, str):
            raise InvalidInput(
                f'instances[{position}] must be a string or {{"text": string}}, got {type(item).__name__}'
            )
        texts.append(item)
    return texts


def predict_fn(input_data: list[str], model: LinearTextModel) -> list[dict[str, Any]]:
    """Score every text; `is_fraud` uses the artifact's operating threshold."""
    scores = model.probabilities(input_data)
    return [{"score": float(s), "is_fraud": bool(s >= model.threshold)} for s in scores]


def output_fn(prediction: list[dict[str, Any]], accept: str | None = JSON) -> bytes:
    """Serialise as JSON (the only reply type offered)."""
    media = _media_type(accept)
    if media not in (JSON, "*/*"):
        raise UnsupportedMediaType(f"accept type {media!r} is not supported; accept {JSON}")
    return json.dumps(prediction).encode()
