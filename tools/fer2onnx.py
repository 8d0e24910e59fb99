#!/usr/bin/python3
"""fer2onnx — export a .fermodel to ONNX, and check the export with OpenCV's dnn.

    fer2onnx.py default.fermodel [-o default.onnx] [--opset 11]

The network is rebuilt in PyTorch from the model's own architecture text
(tools/ferarch.py: one module per layer), loaded with the model's tensors, put in
eval mode (batch norm on running statistics, dropout off) and exported with
torch.onnx.export: input "input" of shape (N, C, H, W) -- (N, 1, 48, 48) for the
shipped models -- with a dynamic batch dimension, output "logits" (N, classes).
Preprocessing is not part of the graph: feed (pixel/255 - mean) / std as the
model's header says, after its contrast step if it has one (preprocess.contrast:
cv2.equalizeHist for "histeq", cv2.createCLAHE(clahe_clip, (clahe_tiles,
clahe_tiles)) for "clahe", on the 8-bit face), and turn the logits into
probabilities with softmax(logits / calibration.temperature) when the header has
a calibration (docs/MODEL_FORMAT.md).

Verification (skip with --no-verify): the ONNX file is checked by onnx.checker,
loaded with cv2.dnn.readNetFromONNX and run on a batch of random inputs; the
maximum absolute difference from torch's logits is printed, and the tool fails if
it exceeds --tol (1e-4).
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferarch  # noqa: E402


def export(model_path, onnx_path, opset=11):
    """Exports model_path to onnx_path; returns (torch module, read_fermodel dict)."""
    import torch
    model, m = ferarch.load_fermodel_torch(model_path)
    model.eval()
    c, h, w = m["arch"].input
    dummy = torch.zeros(1, c, h, w)
    torch.onnx.export(model, dummy, onnx_path, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    _inline_constant_identities(onnx_path)
    return model, m


def _inline_constant_identities(onnx_path):
    """torch.onnx.export shares equal initializers and links them with Identity nodes
    (a fresh batch norm's weight equals its running_var: all ones). OpenCV 4.6 cannot
    import an Identity whose input is an initializer, so each becomes a copy of it."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    inits = {t.name: t for t in m.graph.initializer}
    keep = []
    changed = False
    for node in m.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            arr = numpy_helper.to_array(inits[node.input[0]])
            m.graph.initializer.append(numpy_helper.from_array(arr, node.output[0]))
            changed = True
        else:
            keep.append(node)
    if changed:
        del m.graph.node[:]
        m.graph.node.extend(keep)
        onnx.save(m, onnx_path)


def verify(model, m, onnx_path, batch=4, seed=0):
    """Runs the ONNX file with OpenCV and torch on the same random batch; returns the
    maximum absolute difference of the logits."""
    import cv2
    import onnx
    import torch
    onnx.checker.check_model(onnx.load(onnx_path))
    c, h, w = m["arch"].input
    x = np.random.default_rng(seed).uniform(-1, 1, (batch, c, h, w)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(x)
    got = net.forward()
    if got.shape != ref.shape:
        raise RuntimeError(f"OpenCV output shape {got.shape}, torch {ref.shape}")
    return float(np.max(np.abs(got - ref))), float(np.max(np.abs(ref)))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="fer2onnx.py", description="export a .fermodel to ONNX (opset 11+) and "
        "verify it with OpenCV's dnn module")
    ap.add_argument("model", help="input .fermodel")
    ap.add_argument("-o", "--out", help="output .onnx (default: the model's name with .onnx)")
    ap.add_argument("--opset", type=int, default=11, help="ONNX opset, >= 11 (11)")
    ap.add_argument("--no-verify", action="store_true", help="skip the OpenCV check")
    ap.add_argument("--batch", type=int, default=4, help="batch size for the check (4)")
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="largest allowed max abs difference OpenCV vs torch (1e-4)")
    args = ap.parse_args(argv)
    if args.opset < 11:
        ap.error("--opset must be >= 11")
    out = args.out or os.path.splitext(args.model)[0] + ".onnx"
    try:
        import torch  # noqa: F401
    except ImportError:
        print("fer2onnx: needs torch (run with /usr/bin/python3 and python3-torch)",
              file=sys.stderr)
        return 1
    try:
        model, m = export(args.model, out, args.opset)
    except (OSError, ferarch.ArchError, ferarch.ModelError) as e:
        print(f"fer2onnx: {e}", file=sys.stderr)
        return 1
    print(f"fer2onnx: wrote {out} ({os.path.getsize(out)} bytes, opset {args.opset})")
    if args.no_verify:
        return 0
    try:
        diff, scale = verify(model, m, out, batch=args.batch)
    except Exception as e:  # cv2 and onnx raise their own error types
        print(f"fer2onnx: verification failed: {e}", file=sys.stderr)
        return 1
    print(f"fer2onnx: OpenCV dnn vs torch, batch {args.batch}: max abs diff {diff:.3g} "
          f"(max |logit| {scale:.3g})")
    if not diff <= args.tol:
        print(f"fer2onnx: difference above --tol {args.tol}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
