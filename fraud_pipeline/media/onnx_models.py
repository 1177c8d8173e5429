"""RapidOCR's models with their element-wise steps folded: hard-swish as one node pair, the
scalar affine steps around convolutions inside the convolutions.

PP-OCRv4's detector and recogniser (the ONNX files in RapidOCR's wheel) compute hard-swish
as `x * clip(x + 3, 0, 6) / 6`: four element-wise passes over every activation map (24 in
the detector, 28 in the recogniser), which onnxruntime does not fuse. The same function is
`x * HardSigmoid(x)` with alpha 1/6 and beta 0.5 (an opset-6 operator, so the models keep
their opset): two passes (docs/media.md, change 11). Their backbone also scales and shifts
each convolution's output and each activation by learnt scalars (`y * s + b`, two more
passes each); those fold into the convolutions' weights and biases (`fold_affine_into_conv`;
change 15). The outputs agree with the wheel's within about 1e-6; the recogniser costs about
a quarter less CPU than the wheel's model, the detector about a fifth.

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
REWRITES = "hardswish-affine"  # in the kept file's name: a file made by other rewrites is not reused


def _scalar(constants: dict[str, Any], name: str) -> float | None:
    value = constants.get(name)
    if value is None or value.size != 1:
        return None
    return float(value.ravel()[0])


def fuse_hard_swish(model: Any) -> int:
    """Rewrite every `Mul(x, Clip(Add(x, 3), 0, 6)) / 6` of an onnx ModelProto in place as
    `Mul(x, HardSigmoid(x, 1/6, 0.5))`; returns how many were rewritten."""
    from onnx import helper

    graph = model.graph
    constants = _constants(graph)
    users, producer = _wiring(graph)
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


def _constants(graph: Any) -> dict[str, Any]:
    """The graph's constant tensors by name: Constant nodes' values and initializers."""
    from onnx import numpy_helper

    constants = {
        n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"
    }
    constants.update({init.name: numpy_helper.to_array(init) for init in graph.initializer})
    return constants


def _wiring(graph: Any) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Who reads each tensor (its user nodes) and which node writes it, as the graph stands."""
    users: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            users[name].append(node)
    producer = {out: node for node in graph.node for out in node.output}
    return users, producer


def fold_affine_into_conv(model: Any) -> int:
    """Fold the scalar affine steps around convolutions into the convolutions' weights and
    biases, in place; returns how many convolutions took some.

    PP-OCRv4's backbone (PP-LCNetV3) follows each convolution with a learnable affine block,
    `y * s + b` with scalars `s` and `b` (two element-wise passes over the activation map,
    left unfused by onnxruntime because the weights are Constant nodes), and its activation
    with another one. Folded: `Conv(x; W, c) * s + b` is `Conv(x; W*s, c*s + b)`; and
    `Conv(y * s + b; W, c)` for a convolution without padding (so every input it sums is an
    affine output, none a padded zero) is `Conv(y; W*s, c + b * sum(W))`. Computed in float64,
    stored as float32: the outputs agree with the unfolded model's within about 1e-6."""
    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    constants = _constants(graph)
    users, producer = _wiring(graph)
    graph_outputs = {output.name for output in graph.output}

    def scalar_step(node: Any, variable: str) -> float | None:
        """The constant of an element-wise Mul/Add of `variable` by a one-element constant."""
        if (
            node.op_type not in ("Mul", "Add")
            or len(node.input) != 2
            or list(node.input).count(variable) != 1
        ):
            return None
        other = node.input[1] if node.input[0] == variable else node.input[0]
        return _scalar(constants, other)

    def sole_user(name: str) -> Any | None:
        found = users[name]
        return found[0] if len(found) == 1 and name not in graph_outputs else None

    dropped: set[int] = set()
    folded = 0
    for conv in graph.node:
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in constants:
            continue
        if len(conv.input) > 2 and conv.input[2] not in constants:
            continue
        weight = constants[conv.input[1]].astype(np.float64)
        bias = (
            constants[conv.input[2]].astype(np.float64) if len(conv.input) > 2 else np.zeros(weight.shape[0])
        )
        source, output, steps = conv.input[0], conv.output[0], 0
        # after: Conv -> (* s | + b)... while each step is the only user of the one before
        while (step := sole_user(output)) is not None and (value := scalar_step(step, output)) is not None:
            if step.op_type == "Mul":
                weight, bias = weight * value, bias * value
            else:
                bias = bias + value
            dropped.add(id(step))
            output, steps = step.output[0], steps + 1
        # before: (y * s) + b -> Conv, when the convolution pads nothing and is their only user
        attributes = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
        unpadded = not any(attributes.get("pads", [])) and attributes.get("auto_pad", b"NOTSET") in (
            b"NOTSET",
            b"VALID",
        )
        add = producer.get(source)
        if unpadded and add is not None and sole_user(add.output[0]) is conv and id(add) not in dropped:
            variables = [name for name in add.input if name not in constants]
            shift = scalar_step(add, variables[0]) if len(variables) == 1 else None
            mul = producer.get(variables[0]) if shift is not None and add.op_type == "Add" else None
            if (
                mul is not None
                and mul.op_type == "Mul"
                and sole_user(mul.output[0]) is add
                and id(mul) not in dropped
            ):
                inner = [name for name in mul.input if name not in constants]
                scale = scalar_step(mul, inner[0]) if len(inner) == 1 else None
                if scale is not None and shift is not None:
                    bias = bias + shift * weight.sum(axis=tuple(range(1, weight.ndim)))
                    weight = weight * scale
                    dropped |= {id(add), id(mul)}
                    source, steps = inner[0], steps + 1
        if not steps:
            continue
        names = (f"{conv.output[0]}_folded_weight", f"{conv.output[0]}_folded_bias")
        graph.initializer.extend(
            [
                numpy_helper.from_array(weight.astype(np.float32), names[0]),
                numpy_helper.from_array(bias.astype(np.float32), names[1]),
            ]
        )
        del conv.input[:]
        conv.input.extend([source, *names])
        del conv.output[:]
        conv.output.append(output)
        folded += 1
    nodes = [node for node in graph.node if id(node) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    return folded


def fused_model_path(source: Path) -> Path:
    """The path of `source` with hard-swish fused and the affine steps folded into its
    convolutions (made once, kept by digest), or `source` itself when the rewrite cannot be
    made here."""
    try:
        data = source.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"{CACHE_FOLDER}-{os.getuid()}"
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():  # another user's folder: not a model source
            raise PermissionError(f"{folder} belongs to another user")
        target = folder / f"{digest}-{REWRITES}-{source.name}"
        if target.is_file():
            return target  # made by an earlier process: onnx is not even imported
        import onnx

        model = onnx.load_from_string(data)
        if fuse_hard_swish(model) + fold_affine_into_conv(model) == 0:
            return source
        onnx.checker.check_model(model)
        staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        staging.write_bytes(model.SerializeToString())
        staging.replace(target)  # atomic: a concurrent process reads a whole file or makes its own
        return target
    except Exception as exc:  # any failure means the wheel's own model, not a crash
        log.warning("using %s as shipped (not rewritten: %s)", source.name, exc)
        return source
