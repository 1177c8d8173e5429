"""RapidOCR's models with their hard-swish activations spelled as one node pair, not four.

PP-OCRv4's detector and recogniser (the ONNX files in RapidOCR's wheel) compute hard-swish
as `x * clip(x + 3, 0, 6) / 6`: four element-wise passes over every activation map (24 in
the detector, 28 in the recogniser), which onnxruntime does not fuse. The same function is
`x * HardSigmoid(x)` with alpha 1/6 and beta 0.5 (an opset-6 operator, so the models keep
their opset): two passes. The outputs agree within about 1e-6 and the recogniser costs about
a tenth less CPU (docs/media.md, change 11).

The rewrite is made once from the wheel's own file (nothing is downloaded) with the `onnx`
package, and kept in the temporary folder (one of this user's own, mode 700) under the
source file's digest (the Lambda can write only there). When it cannot be made (no `onnx`,
an unexpected graph, a read-only folder) the wheel's file is used as it is: slower, never
wrong.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CACHE_FOLDER = "fraud-pipeline-onnx"


def _scalar(constants: dict[str, Any], name: str) -> float | None:
    value = constants.get(name)
    if value is None or value.size != 1:
        return None
    return float(value.ravel()[0])


def fuse_hard_swish(model: Any) -> int:
    """Rewrite every `Mul(x, Clip(Add(x, 3), 0, 6)) / 6` of an onnx ModelProto in place as
    `Mul(x, HardSigmoid(x, 1/6, 0.5))`; returns how many were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"
    }
    constants.update({init.name: numpy_helper.to_array(init) for init in graph.initializer})
    users: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    producer = {out: node for node in graph.node for out in node.output}
    replaced: dict[int, list[Any]] = {}
    dropped: set[int] = set()
    for clip in graph.node:
        if clip.op_type != "Clip" or len(clip.input) != 3:
            continue
        add = producer.get(clip.input[0])
        if add is None or add.op_type != "Add" or len(users[add.output[0]]) != 1:
            continue
        variables = [name for name in add.input if name not in constants]
        shifts = [_scalar(constants, name) for name in add.input if name in constants]
        if len(variables) != 1 or shifts != [3.0]:
            continue
        if _scalar(constants, clip.input[1]) != 0.0 or _scalar(constants, clip.input[2]) != 6.0:
            continue
        x = variables[0]
        muls = users[clip.output[0]]
        if len(muls) != 1 or muls[0].op_type != "Mul" or sorted(muls[0].input) != sorted([x, clip.output[0]]):
            continue
        divs = users[muls[0].output[0]]
        if len(divs) != 1 or divs[0].op_type != "Div" or divs[0].input[0] != muls[0].output[0]:
            continue
        if _scalar(constants, divs[0].input[1]) != 6.0:
            continue
        gate = clip.output[0] + "_hard_sigmoid"
        replaced[id(add)] = [
            helper.make_node("HardSigmoid", [x], [gate], alpha=1.0 / 6.0, beta=0.5),
            helper.make_node("Mul", [x, gate], [divs[0].output[0]]),
        ]
        dropped |= {id(clip), id(muls[0]), id(divs[0])}
    nodes: list[Any] = []
    for node in graph.node:
        if id(node) in replaced:
            nodes.extend(replaced[id(node)])
        elif id(node) not in dropped:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replaced)


def fused_model_path(source: Path) -> Path:
    """The path of `source` with hard-swish fused (made once, kept by digest), or `source`
    itself when the rewrite cannot be made here."""
    try:
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"{CACHE_FOLDER}-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():  # another user's folder: not a model source
            raise PermissionError(f"{folder} belongs to another user")
        target = folder / f"{digest}-hardswish-{source.name}"
        if target.is_file():
            return target  # made by an earlier process: onnx is not even imported
        import onnx

        model = onnx.load_from_string(data)
        if fuse_hard_swish(model) == 0:
            return source
        onnx.checker.check_model(model)
        staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        staging.write_bytes(model.SerializeToString())
        staging.replace(target)  # atomic: a concurrent process reads a whole file or makes its own
        return target
    except Exception as exc:  # any failure means the wheel's own model, not a crash
        log.warning("using %s as shipped (hard-swish not fused: %s)", source.name, exc)
        return source
