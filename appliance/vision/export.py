"""Export a BlazeFace ``.tflite`` to ONNX (for the onnxruntime path and its tests), byte for byte reproducibly.

``tflite2onnx`` does the conversion; its output lists initializers and value
infos in hash order, so they are sorted by name afterwards, which makes the
file's sha256 stable (and pinnable in the manifest) for the pinned
``tflite2onnx``/``onnx`` versions.  Used by the model registry when a
manifest file has ``export = "<tflite in site-packages>"``:
``python -m appliance.vision.export SRC.tflite OUT.onnx``.
"""

from __future__ import annotations

import sys
from pathlib import Path


def export_onnx(source: Path, target: Path) -> None:
    """Convert ``source`` (.tflite) into ``target`` (.onnx) with a canonical ordering."""
    import onnx
    import tflite2onnx

    tflite2onnx.convert(str(source), str(target))
    model = onnx.load(str(target))
    graph = model.graph
    for field in (graph.initializer, graph.value_info):
        ordered = sorted(field, key=lambda item: item.name)
        copies = [type(item)() for item in ordered]
        for copy, item in zip(copies, ordered, strict=True):
            copy.CopyFrom(item)
        del field[:]
        field.extend(copies)
    onnx.save(model, str(target))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m appliance.vision.export SRC.tflite OUT.onnx", file=sys.stderr)
        return 2
    export_onnx(Path(argv[0]), Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
