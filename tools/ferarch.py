#!/usr/bin/python3
"""ferarch — the Python side of ferd's network description, shared by the tools.

What it does:
  * parses the `.arch` text with the rules of docs/ARCH_FORMAT.md (the C parser,
    src/net/arch.c, is normative; this one mirrors it so the tools reject what ferd rejects);
  * builds a torch ``nn.Sequential`` with exactly one module per section, so the
    state-dict keys ("3.weight", "4.running_var", ...) are the C tensor names;
  * reads and writes `.fermodel` files (docs/MODEL_FORMAT.md).

Design: the parsed architecture is a plain list of layer dicts with their input and
output shapes filled in, which is all the tools need; torch is imported lazily so
the file format half works without it (numpy only).

Used by tools/pt2fer.py, tools/fer2onnx.py and tools/ferparity.py. Needs
/usr/bin/python3 (Debian's python3-torch, python3-numpy).
"""

import json
import os
import struct
import zlib

import numpy as np

MAX_LAYERS = 128
MAX_CLASSES = 32
MAX_CLASS_NAME = 31
MAX_NAME = 63

MODEL_MAGIC = b"FERMODEL"
MODEL_VERSION = 1
MAX_HEADER = 16 << 20

# Each section's keys and their defaults (None = required; "=size" = same as size).
SECTION_KEYS = {
    "conv": {"filters": None, "size": None, "stride": 1, "pad": 0, "bias": 1},
    "bn": {"eps": 1e-5, "momentum": 0.1},
    "relu": {},
    "maxpool": {"size": 2, "stride": "=size"},
    "gap": {},
    "fc": {"outputs": None},
    "dropout": {"p": 0.5},
}
FLOAT_KEYS = {"eps", "momentum", "p"}


class ArchError(ValueError):
    """A malformed architecture. kind is 'arch', 'layer' (unknown section) or 'classes',
    as FER_E_ARCH, FER_E_LAYER and FER_E_CLASSES on the C side."""

    def __init__(self, origin, line, msg, kind="arch"):
        where = f"{origin}: line {line}: " if line else f"{origin}: "
        super().__init__(where + msg)
        self.kind = kind


class ModelError(ValueError):
    """A malformed .fermodel file."""


def _strip_comment(line):
    for i, ch in enumerate(line):
        if ch in "#;":
            return line[:i]
    return line


def _parse_int(origin, lineno, key, value):
    try:
        return int(value, 10)
    except ValueError:
        raise ArchError(origin, lineno, f"{key} = {value!r}: not an integer") from None


def _parse_float(origin, lineno, key, value):
    try:
        v = float(value)
    except ValueError:
        raise ArchError(origin, lineno, f"{key} = {value!r}: not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise ArchError(origin, lineno, f"{key} = {value!r}: not a finite number")
    return v


class Arch:
    """A parsed architecture.

    name, input (C, H, W), classes (list, may be empty), text (the source) and layers:
    a list of dicts with 'type', 'line', the section's keys, 'in' (input shape of one
    image: a 3-tuple, or a 1-tuple once flattened) and 'out' (its output shape)."""

    def __init__(self, text, origin="<arch>"):
        self.text = text
        self.origin = origin
        self.name = ""
        self.input = None
        self.classes = []
        self.layers = []
        self._parse()

    # -- parsing --------------------------------------------------------------
    def _parse(self):
        origin = self.origin
        section = None      # current section name
        cur = None          # its key dict (net or layer)
        seen_net = False
        raw_layers = []
        net_keys = {}
        for lineno, raw in enumerate(self.text.splitlines(), 1):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            if line.startswith("["):
                if not line.endswith("]"):
                    raise ArchError(origin, lineno, f"bad section header {line!r}")
                section = line[1:-1].strip()
                if section == "net":
                    if seen_net:
                        raise ArchError(origin, lineno, "[net] given twice")
                    if raw_layers:
                        raise ArchError(origin, lineno, "[net] must come first")
                    seen_net = True
                    cur = net_keys
                    continue
                if not seen_net:
                    raise ArchError(origin, lineno, "[net] must come first")
                if section not in SECTION_KEYS:
                    raise ArchError(origin, lineno, f"unknown layer [{section}]", kind="layer")
                if len(raw_layers) >= MAX_LAYERS:
                    raise ArchError(origin, lineno, f"more than {MAX_LAYERS} layers")
                cur = {"type": section, "line": lineno, "_keys": {}}
                raw_layers.append(cur)
                continue
            if "=" not in line:
                raise ArchError(origin, lineno, f"expected key = value, got {line!r}")
            if section is None:
                raise ArchError(origin, lineno, "key outside a section ([net] must come first)")
            key, value = (s.strip() for s in line.split("=", 1))
            if section == "net":
                if key not in ("name", "input", "classes"):
                    raise ArchError(origin, lineno, f"unknown key {key!r} in [net]")
                if key in net_keys:
                    raise ArchError(origin, lineno, f"duplicated key {key!r}")
                net_keys[key] = (lineno, value)
            else:
                known = SECTION_KEYS[section]
                if key not in known:
                    raise ArchError(origin, lineno, f"unknown key {key!r} in [{section}]")
                if key in cur["_keys"]:
                    raise ArchError(origin, lineno, f"duplicated key {key!r}")
                if key in FLOAT_KEYS:
                    cur["_keys"][key] = _parse_float(origin, lineno, key, value)
                else:
                    cur["_keys"][key] = _parse_int(origin, lineno, key, value)
        if not seen_net:
            raise ArchError(origin, 0, "no [net] section")
        self._parse_net(net_keys)
        self._build_layers(raw_layers)

    def _parse_net(self, keys):
        origin = self.origin
        if "name" in keys:
            lineno, v = keys["name"]
            if len(v.encode()) > MAX_NAME:
                raise ArchError(origin, lineno, f"name longer than {MAX_NAME} characters")
            self.name = v
        if "input" not in keys:
            raise ArchError(origin, 0, "[net] has no input")
        lineno, v = keys["input"]
        parts = v.lower().split("x")
        try:
            dims = tuple(int(p.strip(), 10) for p in parts)
        except ValueError:
            dims = ()
        if len(dims) != 3 or min(dims) <= 0:
            raise ArchError(origin, lineno, f"input = {v!r}: expected CxHxW, all positive")
        self.input = dims
        if "classes" in keys:
            lineno, v = keys["classes"]
            names = [s.strip() for s in v.split(",")]
            if not names or any(not n for n in names):
                raise ArchError(origin, lineno, "classes: empty class name")
            if len(names) > MAX_CLASSES:
                raise ArchError(origin, lineno, f"more than {MAX_CLASSES} classes", "classes")
            for n in names:
                if len(n.encode()) > MAX_CLASS_NAME:
                    raise ArchError(origin, lineno, f"class name {n!r} longer than "
                                    f"{MAX_CLASS_NAME} characters", "classes")
            self._classes_line = lineno
            self.classes = names

    def _build_layers(self, raw_layers):
        origin = self.origin
        shape = self.input
        prev = None
        for spec in raw_layers:
            t, ln, given = spec["type"], spec["line"], spec["_keys"]
            layer = {"type": t, "line": ln}
            for key, default in SECTION_KEYS[t].items():
                if key in given:
                    layer[key] = given[key]
                elif default is None:
                    raise ArchError(origin, ln, f"[{t}] needs {key}")
                elif default == "=size":
                    layer[key] = given.get("size", SECTION_KEYS[t]["size"])
                else:
                    layer[key] = default
            flat = len(shape) == 1
            if t in ("conv", "maxpool", "gap") and flat:
                raise ArchError(origin, ln, f"[{t}] after the input was flattened")
            if t == "conv":
                for key in ("filters", "size", "stride"):
                    if layer[key] <= 0:
                        raise ArchError(origin, ln, f"{key} must be positive")
                if not 0 <= layer["pad"] < layer["size"]:
                    raise ArchError(origin, ln, "pad must be in [0, size)")
                if layer["bias"] not in (0, 1):
                    raise ArchError(origin, ln, "bias must be 0 or 1")
                c, h, w = shape
                oh = (h + 2 * layer["pad"] - layer["size"]) // layer["stride"] + 1
                ow = (w + 2 * layer["pad"] - layer["size"]) // layer["stride"] + 1
                if h + 2 * layer["pad"] < layer["size"] or w + 2 * layer["pad"] < layer["size"]:
                    raise ArchError(origin, ln, f"conv output would be empty (input {c}x{h}x{w})")
                out = (layer["filters"], oh, ow)
            elif t == "bn":
                if layer["eps"] <= 0:
                    raise ArchError(origin, ln, "eps must be positive")
                if not 0 <= layer["momentum"] <= 1:
                    raise ArchError(origin, ln, "momentum must be in [0, 1]")
                if not flat and (prev is None or prev["type"] != "conv"):
                    raise ArchError(origin, ln, "[bn] must directly follow [conv] "
                                    "or work on flattened ([fc]) features")
                if flat and prev is None:
                    raise ArchError(origin, ln, "[bn] cannot be the first layer")
                out = shape
            elif t == "maxpool":
                if layer["size"] <= 0 or layer["stride"] <= 0:
                    raise ArchError(origin, ln, "size and stride must be positive")
                c, h, w = shape
                if h < layer["size"] or w < layer["size"]:
                    raise ArchError(origin, ln, f"maxpool output would be empty (input {c}x{h}x{w})")
                out = (c, (h - layer["size"]) // layer["stride"] + 1,
                       (w - layer["size"]) // layer["stride"] + 1)
            elif t == "gap":
                out = (shape[0],)
            elif t == "fc":
                if layer["outputs"] <= 0:
                    raise ArchError(origin, ln, "outputs must be positive")
                out = (layer["outputs"],)
            elif t == "dropout":
                if not 0 <= layer["p"] < 1:
                    raise ArchError(origin, ln, "p must be in [0, 1)")
                out = shape
            else:  # relu
                out = shape
            layer["in"] = shape
            layer["out"] = out
            self.layers.append(layer)
            shape = out
            prev = layer
        if not self.layers:
            raise ArchError(origin, 0, "no layers")
        i = len(self.layers) - 1
        while i >= 0 and self.layers[i]["type"] in ("relu", "bn", "dropout") \
                and len(self.layers[i]["in"]) == 1:
            i -= 1
        if i < 0 or self.layers[i]["type"] != "fc":
            raise ArchError(origin, self.layers[-1]["line"],
                            "the last layer must be [fc] (or a shape-preserving layer after it)")
        self.nclasses = self.layers[-1]["out"][0]
        if self.classes and len(self.classes) != self.nclasses:
            raise ArchError(origin, getattr(self, "_classes_line", 0),
                            f"{len(self.classes)} classes, the output layer has {self.nclasses}",
                            "classes")

    # -- derived facts ---------------------------------------------------------
    def tensors(self):
        """The parameter tensors in file order: a list of (name, shape, kind, fan_in)
        with kind one of weight, bias, running_mean, running_var. fan_in is the input
        width of one output unit for conv and fc tensors, else 0."""
        out = []
        for i, L in enumerate(self.layers):
            t = L["type"]
            if t == "conv":
                c = L["in"][0]
                fan = c * L["size"] * L["size"]
                out.append((f"{i}.weight", (L["filters"], c, L["size"], L["size"]), "weight", fan))
                if L["bias"]:
                    out.append((f"{i}.bias", (L["filters"],), "bias", fan))
            elif t == "fc":
                n_in = int(np.prod(L["in"]))
                out.append((f"{i}.weight", (L["outputs"], n_in), "weight", n_in))
                out.append((f"{i}.bias", (L["outputs"],), "bias", n_in))
            elif t == "bn":
                c = L["in"][0]
                for kind in ("weight", "bias", "running_mean", "running_var"):
                    out.append((f"{i}.{kind}", (c,), kind, 0))
        return out

    def nparams(self):
        """Trainable parameters (weights and biases, not bn statistics)."""
        return sum(int(np.prod(s)) for _, s, k, _ in self.tensors()
                   if k in ("weight", "bias"))


def load_arch(path):
    with open(path, "r", encoding="utf-8") as f:
        return Arch(f.read(), origin=str(path))


# -- torch modules ----------------------------------------------------------------
# Module-level classes (not built inside a function) so whole modules pickle.
try:
    import torch
    import torch.nn as nn
except ImportError:  # the file-format half works without torch
    torch = None

if torch is not None:
    class FcLayer(nn.Linear):
        """nn.Linear that flattens (N, C, H, W) to (N, C*H*W) in C, H, W order first."""

        def forward(self, x):
            return nn.functional.linear(torch.flatten(x, 1), self.weight, self.bias)

    class GapLayer(nn.Module):
        """Global average pool: (N, C, H, W) -> (N, C)."""

        def forward(self, x):
            return x.mean((2, 3))


def build_torch(arch):
    """An nn.Sequential with one module per section of arch (an Arch): its state-dict
    keys, num_batches_tracked aside, are arch.tensors() names in the same order."""
    if torch is None:
        raise RuntimeError("building a torch module needs torch (/usr/bin/python3)")
    mods = []
    for L in arch.layers:
        t = L["type"]
        if t == "conv":
            mods.append(nn.Conv2d(L["in"][0], L["filters"], L["size"], stride=L["stride"],
                                  padding=L["pad"], bias=bool(L["bias"])))
        elif t == "bn":
            cls = nn.BatchNorm1d if len(L["in"]) == 1 else nn.BatchNorm2d
            mods.append(cls(L["in"][0], eps=L["eps"], momentum=L["momentum"]))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "maxpool":
            mods.append(nn.MaxPool2d(L["size"], stride=L["stride"]))
        elif t == "gap":
            mods.append(GapLayer())
        elif t == "fc":
            mods.append(FcLayer(int(np.prod(L["in"])), L["outputs"]))
        elif t == "dropout":
            mods.append(nn.Dropout(L["p"]))
        else:
            raise AssertionError(t)
    model = nn.Sequential(*mods)
    keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    names = [n for n, *_ in arch.tensors()]
    assert keys == names, (keys, names)
    return model


def state_to_tensors(model_or_state, arch):
    """The arch's tensors as an ordered dict name -> float32 numpy array from a module
    built by build_torch (or its state dict)."""
    sd = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    out = {}
    for name, shape, _, _ in arch.tensors():
        a = sd[name].detach().cpu().numpy().astype(np.float32)
        assert tuple(a.shape) == tuple(shape), (name, a.shape, shape)
        out[name] = np.ascontiguousarray(a)
    return out


def load_tensors_into(model, tensors):
    """Copies name -> numpy array into a module built by build_torch."""
    sd = model.state_dict()
    for name, a in tensors.items():
        if tuple(sd[name].shape) != tuple(a.shape):
            raise ModelError(f"tensor {name}: shape {tuple(a.shape)}, module has "
                             f"{tuple(sd[name].shape)}")
        sd[name] = torch.from_numpy(np.array(a, dtype=np.float32))
    model.load_state_dict(sd)


# -- .fermodel ---------------------------------------------------------------------
DEFAULT_PREPROCESS = {"margin": 0.0, "square": True, "grey": True, "resize": "area",
                      "mean": 0.0, "std": 1.0}


def write_fermodel(path, arch_text, classes, preprocess, meta, tensors, arch=None):
    """Writes a .fermodel (docs/MODEL_FORMAT.md). tensors: name -> array, any order;
    they are written in the architecture's file order and must match it exactly.
    meta may be None. Written to path.tmp then renamed, so a crash leaves no half file."""
    if arch is None:
        arch = Arch(arch_text)
    names = arch.tensors()
    if set(tensors) != {n for n, *_ in names}:
        missing = [n for n, *_ in names if n not in tensors]
        extra = [n for n in tensors if n not in {m for m, *_ in names}]
        raise ModelError(f"tensors do not match the architecture: missing {missing}, "
                         f"unknown {extra}")
    if len(classes) != arch.nclasses:
        raise ModelError(f"{len(classes)} classes, the output layer has {arch.nclasses}")
    table, blobs, off = [], [], 0
    for name, shape, _, _ in names:
        a = np.ascontiguousarray(np.asarray(tensors[name], dtype="<f4"))
        if tuple(a.shape) != tuple(shape):
            raise ModelError(f"tensor {name} has shape {tuple(a.shape)}, the architecture "
                             f"needs {tuple(shape)}")
        table.append({"name": name, "shape": list(shape), "dtype": "f32", "offset": off})
        blobs.append(a.tobytes())
        off += a.nbytes
    header = {"arch": arch_text, "classes": list(classes), "preprocess": dict(preprocess)}
    if meta:
        header["meta"] = meta
    header["tensors"] = table
    header["data_bytes"] = off
    hbytes = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    head = MODEL_MAGIC + struct.pack("<II", MODEL_VERSION, len(hbytes)) + hbytes
    head += b"\0" * ((-len(head)) % 64)
    crc = zlib.crc32(head)
    for b in blobs:
        crc = zlib.crc32(b, crc)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
        f.write(struct.pack("<I", crc & 0xFFFFFFFF))
    os.replace(tmp, path)


def read_fermodel(path):
    """Reads and validates a .fermodel. Returns a dict with arch (an Arch), header (the
    JSON object) and tensors (name -> float32 array, file order). Raises ModelError."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 16 or buf[:8] != MODEL_MAGIC:
        raise ModelError(f"{path}: not a .fermodel file (bad magic)")
    version, hlen = struct.unpack_from("<II", buf, 8)
    if version != MODEL_VERSION:
        raise ModelError(f"{path}: format version {version}, this reader reads {MODEL_VERSION}")
    if not 1 <= hlen <= MAX_HEADER:
        raise ModelError(f"{path}: header length {hlen} out of range")
    data0 = (16 + hlen + 63) // 64 * 64
    if len(buf) < data0 + 4:
        raise ModelError(f"{path}: truncated: {len(buf)} bytes")
    try:
        header = json.loads(buf[16:16 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelError(f"{path}: header: {e}") from None
    data_bytes = header.get("data_bytes")
    if not isinstance(data_bytes, int) or data_bytes < 0:
        raise ModelError(f"{path}: header: \"data_bytes\" missing")
    need = data0 + data_bytes + 4
    if len(buf) < need:
        raise ModelError(f"{path}: truncated: {len(buf)} bytes, header and data need {need}")
    if len(buf) > need:
        raise ModelError(f"{path}: {len(buf) - need} bytes after the checksum")
    stored = struct.unpack_from("<I", buf, need - 4)[0]
    computed = zlib.crc32(buf[:need - 4]) & 0xFFFFFFFF
    if stored != computed:
        raise ModelError(f"{path}: checksum mismatch (stored 0x{stored:08x}, "
                         f"computed 0x{computed:08x})")
    for key in ("arch", "classes", "preprocess", "tensors"):
        if key not in header:
            raise ModelError(f"{path}: header: \"{key}\" missing")
    arch = Arch(header["arch"], origin=f"{path}: arch")
    if len(header["classes"]) != arch.nclasses:
        raise ModelError(f"{path}: {len(header['classes'])} classes, the output layer has "
                         f"{arch.nclasses}")
    want = {n: s for n, s, _, _ in arch.tensors()}
    tensors = {}
    for t in header["tensors"]:
        name, shape, off = t.get("name"), tuple(t.get("shape", ())), t.get("offset")
        if name not in want:
            raise ModelError(f"{path}: unknown tensor {name}")
        if name in tensors:
            raise ModelError(f"{path}: tensor {name} repeated")
        if shape != tuple(want[name]):
            raise ModelError(f"{path}: tensor {name} has shape {shape}, the architecture "
                             f"needs {tuple(want[name])}")
        if t.get("dtype") != "f32":
            raise ModelError(f"{path}: tensor {name}: dtype {t.get('dtype')}")
        n = int(np.prod(shape))
        if not isinstance(off, int) or off < 0 or off + 4 * n > data_bytes:
            raise ModelError(f"{path}: tensor {name} outside data_bytes")
        tensors[name] = np.frombuffer(buf, dtype="<f4", count=n,
                                      offset=data0 + off).reshape(shape).astype(np.float32)
    missing = [n for n in want if n not in tensors]
    if missing:
        raise ModelError(f"{path}: tensor {missing[0]} missing")
    ordered = {n: tensors[n] for n in want}
    return {"arch": arch, "header": header, "tensors": ordered}


def load_fermodel_torch(path):
    """A .fermodel as (module built by build_torch with its weights, read_fermodel dict)."""
    m = read_fermodel(path)
    model = build_torch(m["arch"])
    load_tensors_into(model, m["tensors"])
    return model, m


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        if p.endswith(".fermodel"):
            a = read_fermodel(p)["arch"]
        else:
            a = load_arch(p)
        print(f"{p}: {a.name or '(unnamed)'} input {'x'.join(map(str, a.input))}, "
              f"{len(a.layers)} layers, {a.nparams()} parameters")
        for i, L in enumerate(a.layers):
            print(f"  {i:3d} {L['type']:8s} {'x'.join(map(str, L['in'])):>12s} -> "
                  f"{'x'.join(map(str, L['out']))}")
