#!/usr/bin/python3
"""pt2fer — convert a PyTorch model into a .fermodel for ferd.

    pt2fer.py --arch models/default.arch model.pt -o default.fermodel \\
              --classes angry,disgust,fear,happy,sad,surprise,neutral --mean 0.5 --std 0.25

The input is a file written by torch.save: a state dict, a whole nn.Module, or a
checkpoint dict holding a state dict under "state_dict", "model_state_dict" or "model".
Its parameter names do not matter: its tensors are taken in order, num_batches_tracked
skipped, and matched one by one, by shape, to the tensor list of the architecture
(docs/ARCH_FORMAT.md: conv weight and bias, bn weight, bias, running_mean and
running_var, fc weight and bias, layer by layer). Any difference in count or shape is an
error that names the tensor on both sides. The architecture is the contract: the
PyTorch model must be built with the same layers in the same order.

The output is written per docs/MODEL_FORMAT.md by tools/ferarch.py, read back and
checked before the command reports success.
"""

import argparse
import datetime
import json
import os
import shlex
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ferarch  # noqa: E402


class ConvertError(ValueError):
    pass


def extract_state(obj):
    """The ordered (name, tensor) list of a state dict, module or checkpoint."""
    import torch
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and not all(torch.is_tensor(v) for v in obj.values()):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj:
                return extract_state(obj[key])
        raise ConvertError("input is a dict without tensors or a state dict under "
                           "'state_dict', 'model_state_dict' or 'model'")
    if not isinstance(obj, dict):
        raise ConvertError(f"input holds a {type(obj).__name__}, not a state dict or module")
    return [(k, v) for k, v in obj.items() if not k.endswith("num_batches_tracked")]


def match_tensors(state, arch):
    """Maps the source tensors, in order, onto arch.tensors(). state: list of
    (name, tensor-like). Returns name -> float32 array in the ferd names."""
    want = arch.tensors()
    out = {}
    for j, (fname, shape, _, _) in enumerate(want):
        if j >= len(state):
            raise ConvertError(
                f"the source has {len(state)} tensors, the architecture needs {len(want)}: "
                f"nothing left for {fname} {tuple(shape)}")
        sname, t = state[j]
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        if tuple(a.shape) != tuple(shape):
            raise ConvertError(
                f"source tensor #{j} '{sname}' has shape {tuple(a.shape)}, "
                f"the architecture's tensor #{j} '{fname}' needs {tuple(shape)}")
        if not np.all(np.isfinite(a)):
            raise ConvertError(f"source tensor '{sname}' (for {fname}) is not finite")
        out[fname] = np.ascontiguousarray(a, dtype=np.float32)
    if len(state) > len(want):
        extra = ", ".join(f"'{n}' {tuple(t.shape)}" for n, t in state[len(want):len(want) + 4])
        raise ConvertError(f"the source has {len(state)} tensors, the architecture needs "
                           f"{len(want)}; left over: {extra}")
    return out


def convert(state, arch, out_path, classes=None, preprocess=None, meta=None):
    """The conversion both this tool and tools/ferparity.py use: state (a state dict,
    module or list of (name, tensor)), arch (ferarch.Arch) -> out_path. Returns the
    tensors written. Reads the file back and checks it."""
    if not isinstance(state, list):
        state = extract_state(state)
    tensors = match_tensors(state, arch)
    if classes is None:
        classes = arch.classes
    if not classes:
        raise ConvertError("no class names: give --classes (the architecture has none)")
    if arch.classes and list(classes) != list(arch.classes):
        raise ConvertError(f"--classes {','.join(classes)} differ from the architecture's "
                           f"classes {','.join(arch.classes)}")
    if len(classes) != arch.nclasses:
        raise ConvertError(f"{len(classes)} classes, the output layer has {arch.nclasses}")
    pre = dict(ferarch.DEFAULT_PREPROCESS)
    pre.update(preprocess or {})
    ferarch.write_fermodel(out_path, arch.text, classes, pre, meta, tensors, arch=arch)
    back = ferarch.read_fermodel(out_path)
    for name, a in tensors.items():
        if not np.array_equal(back["tensors"][name], a):
            raise ConvertError(f"{out_path}: tensor {name} did not read back identically")
    return tensors


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="pt2fer.py", description=__doc__.split("\n\n")[0].split(" — ")[1],
        epilog="Tensors are matched in order by shape; see the module docstring.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="file written by torch.save (state dict, module or checkpoint)")
    ap.add_argument("-o", "--out", required=True, help="output .fermodel")
    ap.add_argument("--arch", required=True, help="architecture file (.arch) the model follows")
    ap.add_argument("--classes", help="comma-separated class names in output order "
                    "(default: the architecture's classes)")
    g = ap.add_argument_group("preprocessing (docs/MODEL_FORMAT.md)")
    g.add_argument("--margin", type=float, default=0.0,
                   help="border around the detected face box, fraction of its side (0.0)")
    g.add_argument("--square", action=argparse.BooleanOptionalAction, default=True,
                   help="crop a square around the box centre (default yes)")
    g.add_argument("--grey", action=argparse.BooleanOptionalAction, default=True,
                   help="convert to one grey channel (default yes)")
    g.add_argument("--resize", choices=("area", "linear"), default="area",
                   help="resize interpolation (area)")
    g.add_argument("--mean", type=float, default=0.0,
                   help="input = (pixel/255 - mean) / std; mean (0.0)")
    g.add_argument("--std", type=float, default=1.0, help="std (1.0)")
    g = ap.add_argument_group("metadata (all optional)")
    g.add_argument("--dataset", help="training data set, e.g. FER2013")
    g.add_argument("--epochs", type=int)
    g.add_argument("--val-acc", type=float, help="validation accuracy, a fraction")
    g.add_argument("--test-acc", type=float, help="test accuracy, a fraction")
    g.add_argument("--created", help="RFC 3339 UTC time (default: now)")
    g.add_argument("--command", help="how the model was trained (default: this command line)")
    g.add_argument("--extra", help="free-form JSON object for meta.extra")
    args = ap.parse_args(argv)

    if args.std <= 0:
        ap.error("--std must be positive")
    if args.margin < 0:
        ap.error("--margin must be >= 0")
    for key in ("val_acc", "test_acc"):
        v = getattr(args, key)
        if v is not None and not 0 <= v <= 1:
            ap.error(f"--{key.replace('_', '-')} must be a fraction in [0, 1]")
    meta = {"created": args.created or datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": args.command or " ".join(shlex.quote(a) for a in sys.argv)}
    if args.dataset:
        meta["dataset"] = args.dataset
    if args.epochs is not None:
        meta["epochs"] = args.epochs
    if args.val_acc is not None:
        meta["val_acc"] = args.val_acc
    if args.test_acc is not None:
        meta["test_acc"] = args.test_acc
    if args.extra:
        try:
            extra = json.loads(args.extra)
        except ValueError as e:
            ap.error(f"--extra: {e}")
        if not isinstance(extra, dict):
            ap.error("--extra must be a JSON object")
        meta["extra"] = extra
    pre = {"margin": args.margin, "square": args.square, "grey": args.grey,
           "resize": args.resize, "mean": args.mean, "std": args.std}
    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None

    try:
        import torch
    except ImportError:
        print("pt2fer: needs torch (run with /usr/bin/python3 and python3-torch)", file=sys.stderr)
        return 1
    try:
        arch = ferarch.load_arch(args.arch)
        try:
            obj = torch.load(args.input, map_location="cpu")
        except Exception as e:  # torch raises many kinds for a bad file
            raise ConvertError(f"{args.input}: cannot load: {e}") from None
        tensors = convert(obj, arch, args.out, classes, pre, meta)
    except (OSError, ferarch.ArchError, ferarch.ModelError, ConvertError) as e:
        print(f"pt2fer: {e}", file=sys.stderr)
        return 1
    n = sum(a.size for a in tensors.values())
    print(f"pt2fer: wrote {args.out}: {len(tensors)} tensors, {n} floats, "
          f"{os.path.getsize(args.out)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
