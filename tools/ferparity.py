#!/usr/bin/python3
"""ferparity — PyTorch reference results for the C engine's parity test.

    ferparity.py make --out tests/fixtures/parity     # regenerate the committed fixtures
    ferparity.py live --fer-test build/tests/test_parity --tmp DIR [--seed N]
    ferparity.py hash SEED I [COUNT]                  # print fer_hash_uniform values

As llm.c's test_gpt2.c does for GPT-2, tests/test_parity.c runs a network in C and
compares its logits, loss and every gradient with what PyTorch computed for the same
weights and inputs. This script computes the PyTorch side and writes it to
<net>.fert files (format below), one per net:

  tiny      tests/fixtures/tiny.arch     every layer type on 1x12x12, 4 classes
  tiny_gap  tests/fixtures/tiny_gap.arch global average pool, overlapping pool, 3 classes
  default   models/default.arch          the shipped compact VGG, 1x48x48, 7 classes
  seed      models/seed.arch             the 42.6M-parameter origin net

Weights. tiny, tiny_gap and default: PyTorch's default initialisation from a fixed
torch seed, then every batch-norm tensor randomised (gamma, running_var ~ U(0.5, 1.5),
beta, running_mean ~ U(-0.3, 0.3)) so folding and inference statistics are tested with
non-trivial values; converted by tools/pt2fer.py's code path to <net>.fermodel next to
the fixture. seed: its 170 MB of weights are never written; both sides regenerate them
with the counter-based hash fer_hash_uniform (src/nn/layers.h):

  tensor t (t = 0, 1, 2, ... in file order, over every tensor of the architecture)
  element i (flat, row-major) = fer_hash_uniform(init_seed + t, i) * scale_t
    conv/fc weight and bias: scale_t = float32(1 / sqrt(fan_in)) (computed in double,
                             rounded once), fan_in = C*size*size (conv), inputs (fc)
    bn weight    = 1 + 0.1 * h      bn bias         = 0.1 * h
    bn run. mean = 0.1 * h          bn running_var  = 1 + 0.5 * h    (float32 arithmetic)
  init_seed = 1000 for the committed fixture (stored in it as "init_seed").

  fer_hash_uniform(seed, i): x = splitmix64_mix(seed + i * 0x9E3779B97F4A7C15 mod 2^64),
  value = float32(x >> 40) / 2^23 - 1, in [-1, 1), exact in float32.

Kinks: if the training forward passes within 2e-7 rms of a ReLU's zero or of a max-pool
tie, C's float32 rounding could take the other branch there, so the seeds are advanced
(torch seed and init_seed + 1000) and the net redone, up to 8 times; the fixture's
comment says which attempt it is. The remaining near-kinks (within 1e-4 rms) are
recorded, and the C test excuses, with a message, gradient differences below a kink
that C did cross.

Inputs: a batch of N = 4 images, element i of the flat (N, C, H, W) batch =
fer_hash_uniform(7, i) ("input_seed"; stored as "input" too for the tiny nets only).
Labels: (1, 0, K-1, 2 mod K). Class weights w_c = 0.5 + 0.25 c.
Loss: CrossEntropyLoss(weight=w, label_smoothing=0.1), mean reduction.

Run: first the eval-mode logits of the fresh model ("eval_logits": running statistics
as stored in the .fermodel, i.e. BEFORE the training step updates them; the C test
compares them with a model loaded with FER_LOAD_INFER, batch norm folded). Then
model.train() with every Dropout switched to eval (C: net->dropout_off = 1), so batch
norm uses batch statistics; forward, loss, backward. Recorded: logits, probs, loss,
dlogits, din (input gradient), the gradient of every trainable tensor ("grad.<name>";
seed: 64 entries per tensor at indices "sample.<name>" drawn from the hash, with the
weight values there, "weight.<name>", to check the C side's hash init), the bn running
statistics after the step ("after.<name>"), for the tiny nets every layer's output
and output gradient ("act.<i>", "dact.<i>", diagnostics only), and the places where the
forward came within 1e-4 * rms of a kink, a ReLU's zero or a max-pool tie ("kink.<i>",
"kinkx.<i>", "tie.<i>", "tieg.<i>"; see kink_records): there float32 rounding may send
C down the other branch, which the C test detects and reports instead of failing.

.fert format (little-endian):
  "FERT", u32 version = 1, u32 comment length, comment (UTF-8 text: how it was made),
  u32 tensor count, then per tensor: u16 name length, name, u16 dtype (0 = f32,
  1 = i32), u32 ndim (<= 4), u32 dims[ndim], data (4 bytes per element, row-major).
Reader: tests/parity_fixture.c.
"""

import argparse
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # no reference stack here: the meson test reports a skip
    print("ferparity: numpy is not importable; skipping", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import ferarch  # noqa: E402

BATCH = 4
SMOOTHING = 0.1
INPUT_SEED = 7
INIT_SEED = 1000
SAMPLE_SEED = 3000
SAMPLES = 64
MAKE_TORCH_SEED = 20261128
KINK_REL = 1e-4        # "near a kink": within 1e-4 * rms of a ReLU's zero or a pool tie
KINK_TIGHT = 2e-7      # this near, the seeds are changed and the run repeated ...
KINK_ATTEMPTS = 8      # ... at most this many times

# name: (architecture file relative to the source root, weight init)
NETS = {
    "tiny": ("tests/fixtures/tiny.arch", "torch"),
    "tiny_gap": ("tests/fixtures/tiny_gap.arch", "torch"),
    "default": ("models/default.arch", "torch"),
    "seed": ("models/seed.arch", "hash"),
}
DIAG_NETS = ("tiny", "tiny_gap")   # nets whose per-layer activations are recorded

# ---- fer_hash_uniform, bit-identical to src/nn/rng.c ---------------------------------
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64_mix(z):
    """The splitmix64 finaliser on a uint64 array (multiplies wrap mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_bits(seed, start, count):
    """splitmix64_mix(seed + i * GOLDEN) for i in [start, start + count)."""
    i = np.arange(start, start + count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return splitmix64_mix(np.uint64(seed) + i * GOLDEN)


def hash_uniform(seed, count, start=0):
    """fer_hash_uniform(seed, i) for i in [start, start + count), float32."""
    out = np.empty(count, dtype=np.float32)
    step = 1 << 22
    for a in range(0, count, step):
        n = min(step, count - a)
        x = hash_bits(seed, start + a, n)
        out[a:a + n] = (x >> np.uint64(40)).astype(np.float32) / np.float32(8388608.0) \
            - np.float32(1.0)
    return out


def hash_init_tensors(arch, init_seed):
    """The documented counter-based init of every tensor of arch: name -> array."""
    out = {}
    for t, (name, shape, kind, fan_in) in enumerate(arch.tensors()):
        n = int(np.prod(shape))
        h = hash_uniform(init_seed + t, n)
        layer = arch.layers[int(name.split(".")[0])]
        if layer["type"] == "bn":
            if kind == "weight":
                v = np.float32(1) + np.float32(0.1) * h
            elif kind == "running_var":
                v = np.float32(1) + np.float32(0.5) * h
            else:
                v = np.float32(0.1) * h
        else:
            v = h * np.float32(1.0 / math.sqrt(fan_in))
        out[name] = v.astype(np.float32).reshape(shape)
    return out


def sample_indices(t, count):
    """SAMPLES indices into a tensor of count elements: splitmix64_mix(SAMPLE_SEED + t
    + j * GOLDEN) mod count, j = 0..SAMPLES-1 (recorded in the fixture anyway)."""
    return (hash_bits(SAMPLE_SEED + t, 0, SAMPLES) % np.uint64(count)).astype(np.int32)


# ---- the .fert fixture format -----------------------------------------------------------
DT_F32, DT_I32 = 0, 1


def write_fert(path, tensors, comment):
    """tensors: list of (name, array); float arrays become f32, integer arrays i32."""
    parts = [b"FERT", struct.pack("<I", 1)]
    c = comment.encode("utf-8")
    parts += [struct.pack("<I", len(c)), c, struct.pack("<I", len(tensors))]
    for name, a in tensors:
        a = np.asarray(a)
        if a.dtype.kind in "iu":
            dt, data = DT_I32, np.ascontiguousarray(a, dtype="<i4")
        else:
            dt, data = DT_F32, np.ascontiguousarray(a, dtype="<f4")
        if data.ndim > 4:
            raise ValueError(f"{name}: more than 4 dimensions")
        nb = name.encode()
        parts += [struct.pack("<H", len(nb)), nb, struct.pack("<HI", dt, data.ndim),
                  struct.pack(f"<{data.ndim}I", *data.shape), data.tobytes()]
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"".join(parts))
    os.replace(tmp, path)


def read_fert(path):
    """(comment, ordered dict name -> array); the inverse of write_fert."""
    with open(path, "rb") as f:
        buf = f.read()
    if buf[:4] != b"FERT":
        raise ValueError(f"{path}: not a .fert fixture")
    ver, clen = struct.unpack_from("<II", buf, 4)
    if ver != 1:
        raise ValueError(f"{path}: version {ver}")
    pos = 12
    comment = buf[pos:pos + clen].decode("utf-8")
    pos += clen
    (count,) = struct.unpack_from("<I", buf, pos)
    pos += 4
    out = {}
    for _ in range(count):
        (nl,) = struct.unpack_from("<H", buf, pos)
        pos += 2
        name = buf[pos:pos + nl].decode()
        pos += nl
        dt, nd = struct.unpack_from("<HI", buf, pos)
        pos += 6
        dims = struct.unpack_from(f"<{nd}I", buf, pos)
        pos += 4 * nd
        n = int(np.prod(dims)) if nd else 1
        a = np.frombuffer(buf, dtype="<i4" if dt == DT_I32 else "<f4", count=n, offset=pos)
        out[name] = a.reshape(dims)
        pos += 4 * n
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} trailing bytes")
    return comment, out


# ---- the reference run ------------------------------------------------------------------
def make_inputs(arch):
    c, h, w = arch.input
    k = arch.nclasses
    x = hash_uniform(INPUT_SEED, BATCH * c * h * w).reshape(BATCH, c, h, w)
    labels = np.array([1 % k, 0, k - 1, 2 % k], dtype=np.int32)
    weights = (0.5 + 0.25 * np.arange(k)).astype(np.float32)
    return x, labels, weights


def randomise_bn(model, gen):
    """Non-trivial batch-norm parameters and statistics (fresh ones are 1 and 0)."""
    import torch
    for mod in model:
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            c = mod.num_features
            with torch.no_grad():
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
                mod.running_mean.copy_(torch.rand(c, generator=gen) * 0.6 - 0.3)
                mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def reference_run(model, arch, x, labels, weights, diag):
    """Eval logits of the fresh model, then one training forward and backward as
    documented above. Returns a list of (name, array) to record."""
    import torch
    rec = []
    xt = torch.from_numpy(x.copy())
    model.eval()
    with torch.no_grad():
        rec.append(("eval_logits", model(xt).numpy().copy()))
    model.train()
    for mod in model:
        if isinstance(mod, torch.nn.Dropout):
            mod.eval()
    model.zero_grad(set_to_none=False)
    xt.requires_grad_(True)
    acts = []
    h = xt
    for mod in model:
        h = mod(h)
        h.retain_grad()
        acts.append(h)
    logits = h
    crit = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weights),
                                     label_smoothing=SMOOTHING)
    loss = crit(logits, torch.from_numpy(labels.astype(np.int64)))
    loss.backward()
    rec += [("logits", logits.detach().numpy().copy()),
            ("probs", torch.softmax(logits.detach(), 1).numpy()),
            ("loss", np.array([loss.item()], dtype=np.float32)),
            ("dlogits", logits.grad.numpy().copy()),
            ("din", xt.grad.numpy().copy())]
    if diag:
        for i, a in enumerate(acts):
            rec.append((f"act.{i}", a.detach().numpy().copy()))
            rec.append((f"dact.{i}", a.grad.numpy().copy()))
    kinks, tight = kink_records(model, [xt] + acts[:-1])
    return rec + kinks, tight


def kink_records(model, inputs):
    """Where the training forward came close to a kink (ggml's test-backend-ops warns
    of them): a ReLU input within KINK_REL * rms of zero, or a max-pool window whose two
    largest values are that close. Float32 rounding differs between C and PyTorch, so at
    such a point the two sides may legitimately take different branches and route the
    gradient differently; the C test uses these records to recognise that case.
      kink.<i> (i32): flat indices into ReLU layer i's input (= output) batch;
      kinkx.<i>: PyTorch's input values there;
      tie.<i> (i32, (M, 2)): flat indices into max-pool layer i's input batch of the
        element PyTorch chose and the runner-up; tieg.<i>: PyTorch's input gradient there.
    inputs[i] is layer i's input tensor (with .grad after backward). Returns the records
    and how many of the points are within KINK_TIGHT * rms (close enough to retry)."""
    import torch
    import torch.nn.functional as F
    out = []
    tight = 0
    for i, mod in enumerate(model):
        x = inputs[i].detach()
        rms = float(x.double().pow(2).mean().sqrt())
        thr = KINK_REL * rms
        if isinstance(mod, torch.nn.ReLU):
            v = x.reshape(-1)
            idx = torch.nonzero(v.abs() < thr).reshape(-1)
            tight += int((v.abs() < KINK_TIGHT * rms).sum())
            out.append((f"kink.{i}", idx.numpy().astype(np.int32)))
            out.append((f"kinkx.{i}", v[idx].numpy().copy()))
        elif isinstance(mod, torch.nn.MaxPool2d):
            n, c, h, w = x.shape
            k, st = mod.kernel_size, mod.stride
            cols = F.unfold(x.reshape(n * c, 1, h, w), k, stride=st)   # (NC, k*k, L)
            # Scan order decides exact ties (first maximum), so sort stably by value.
            order = torch.sort(-cols, dim=1, stable=True).indices
            vals = torch.gather(cols, 1, order[:, :2])
            gap = vals[:, 0] - vals[:, 1]
            dead = (vals[:, 0] == 0) & (vals[:, 1] == 0)   # ReLU zeros: no gradient anyway
            nc_i, l_i = torch.nonzero((gap < thr) & ~dead, as_tuple=True)
            # Exact ties (equal values, computed alike on both sides: e.g. two pixels
            # whose inputs were all zeroed) go to the first maximum on both sides.
            tight += int(((gap < KINK_TIGHT * rms) & (gap > 0)).sum())
            ow = (w - k) // st + 1
            oh_i, ow_i = l_i // ow, l_i % ow
            flat = []
            for r in range(2):
                q = order[nc_i, r, l_i]
                kh, kw = q // k, q % k
                flat.append(((nc_i * h + oh_i * st + kh) * w + ow_i * st + kw).numpy())
            pairs = np.stack(flat, axis=1).astype(np.int32).reshape(-1, 2)
            g = inputs[i].grad.reshape(-1).numpy()
            out.append((f"tie.{i}", pairs))
            out.append((f"tieg.{i}", g[pairs.reshape(-1)].reshape(-1, 2).copy()))
    return out, tight


def net_fixture(net, root, out_dir, torch_seed, init_seed):
    """Writes out_dir/<net>.fert (and <net>.fermodel for torch-initialised nets).
    Returns a one-line summary."""
    arch = ferarch.load_arch(os.path.join(root, NETS[net][0]))
    # Retry with the next seeds while the forward passes within a hair of a kink, where
    # C's rounding could take the other branch (the C test would then excuse, not check,
    # the gradients below it). Seeds advance by 1000 per attempt; the fixture says which.
    for attempt in range(KINK_ATTEMPTS):
        res = _attempt(net, arch, out_dir, torch_seed + 1000 * attempt,
                       init_seed + 1000 * attempt)
        if res[-1] == 0:
            break
    return _finish(net, arch, out_dir, attempt, *res)


def _attempt(net, arch, out_dir, torch_seed, init_seed):
    """Weights, inputs and the reference run for one choice of seeds."""
    import torch
    import pt2fer
    arch_rel, init = NETS[net]
    torch.manual_seed(torch_seed)
    model = ferarch.build_torch(arch)
    x, labels, weights = make_inputs(arch)
    head = [("input_seed", np.array([INPUT_SEED], dtype=np.int32)),
            ("labels", labels), ("class_weights", weights),
            ("smoothing", np.array([SMOOTHING], dtype=np.float32))]
    if net in DIAG_NETS:  # small: stored too, so C can check its fer_hash_uniform
        head.insert(0, ("input", x))
    if init == "torch":
        gen = torch.Generator().manual_seed(torch_seed + 1)
        randomise_bn(model, gen)
        path = os.path.join(out_dir, f"{net}.fermodel")
        classes = arch.classes or [f"c{i}" for i in range(arch.nclasses)]
        pt2fer.convert(model.state_dict(), arch, path, classes=classes,
                       meta={"dataset": "parity", "command":
                             f"tools/ferparity.py (torch seed {torch_seed})",
                             "extra": {"torch_seed": torch_seed}})
        # What C loads is what we run: reload the file's tensors into the module.
        ferarch.load_tensors_into(model, ferarch.read_fermodel(path)["tensors"])
        how = (f"random torch init (torch.manual_seed({torch_seed})), bn randomised, "
               f"weights in {net}.fermodel")
    else:
        ferarch.load_tensors_into(model, hash_init_tensors(arch, init_seed))
        head.append(("init_seed", np.array([init_seed], dtype=np.int32)))
        how = (f"hash init: tensor t element i = fer_hash_uniform({init_seed} + t, i) * "
               f"scale_t, scale_t = float32(1/sqrt(fan_in)) for conv/fc weights and biases; "
               f"bn weight 1+0.1h, bias 0.1h, running_mean 0.1h, running_var 1+0.5h; "
               f"nothing but this fixture is written")
    sd_before = {n: a for n, a in ferarch.state_to_tensors(model, arch).items()}
    rec, tight = reference_run(model, arch, x, labels, weights, diag=net in DIAG_NETS)
    return model, head, how, sd_before, rec, labels, tight


def _finish(net, arch, out_dir, attempt, model, head, how, sd_before, rec, labels, tight):
    """Writes the .fert of a finished attempt; returns a summary line."""
    import torch
    arch_rel, init = NETS[net]
    params = dict(model.named_parameters())
    sd_after = model.state_dict()
    tail = []
    for t, (name, shape, kind, _) in enumerate(arch.tensors()):
        if kind in ("running_mean", "running_var"):
            tail.append((f"after.{name}", sd_after[name].numpy().copy()))
            continue
        g = params[name].grad.numpy()
        if init == "hash":
            idx = sample_indices(t, g.size)
            tail.append((f"sample.{name}", idx))
            tail.append((f"weight.{name}", sd_before[name].reshape(-1)[idx]))
            tail.append((f"grad.{name}", g.reshape(-1)[idx]))
        else:
            tail.append((f"grad.{name}", g.copy()))
    comment = (f"ferparity fixture for {net} ({arch_rel}), written by tools/ferparity.py; "
               f"the script's docstring is the full description. Weights: {how}. "
               f"Input: batch {BATCH}, element i = fer_hash_uniform({INPUT_SEED}, i); labels "
               f"{labels.tolist()}; class weights 0.5+0.25c; label smoothing {SMOOTHING}. "
               f"eval_logits: eval mode BEFORE the training step (running statistics as "
               f"initialised). logits/probs/loss/dlogits/din/grad.*: model.train() with "
               f"dropout off, batch statistics, one forward and backward. after.*: bn "
               f"running statistics after that forward. Attempt {attempt + 1} "
               f"({tight} points within {KINK_TIGHT:g} rms of a kink). "
               f"torch {torch.__version__}.")
    path = os.path.join(out_dir, f"{net}.fert")
    write_fert(path, head + rec + tail, comment)
    logits = dict(rec)["logits"]
    return (f"{net}: {path} {os.path.getsize(path)} bytes, attempt {attempt + 1}"
            f"{f' ({tight} near-kinks left)' if tight else ''}, loss {dict(rec)['loss'][0]:.6f}, "
            f"max|logit| {np.abs(logits).max():.4g}")


def make_all(root, out_dir, torch_seed, init_seed, nets):
    import torch
    torch.set_num_threads(1)  # bit-reproducible reductions
    torch.use_deterministic_algorithms(True)
    os.makedirs(out_dir, exist_ok=True)
    for k, net in enumerate(nets):
        print("ferparity:", net_fixture(net, root, out_dir, torch_seed + 10 * k, init_seed),
              flush=True)


# ---- commands ---------------------------------------------------------------------------
def cmd_make(args):
    make_all(args.root, args.out, args.seed, INIT_SEED, args.nets)
    return 0


def cmd_live(args):
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little") >> 1
    init_seed = INIT_SEED + 1 + seed % 100000
    tmp = args.tmp or tempfile.mkdtemp(prefix="ferparity.")
    if os.path.isdir(tmp):
        for f in os.listdir(tmp):
            if f.endswith((".fert", ".fermodel")):
                os.unlink(os.path.join(tmp, f))
    print(f"ferparity live: torch seed {seed}, hash init seed {init_seed}, dir {tmp} "
          f"(rerun with --seed {seed})", flush=True)
    make_all(args.root, tmp, seed, init_seed, args.nets)
    env = dict(os.environ, FER_PARITY_DIR=tmp, FER_SOURCE_ROOT=args.root)
    env.setdefault("CK_DEFAULT_TIMEOUT", "600")
    if args.nets != list(NETS):
        env["FER_PARITY_NETS"] = ",".join(args.nets)
    rc = subprocess.call([args.fer_test], env=env)
    if rc == 0 and not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    elif rc != 0:
        print(f"ferparity live: FAILED (exit {rc}); fixtures kept in {tmp}; "
              f"rerun with --seed {seed}", file=sys.stderr)
    return rc


def cmd_hash(args):
    for i, v in enumerate(hash_uniform(args.seed_value, args.count, start=args.i)):
        print(f"fer_hash_uniform({args.seed_value}, {args.i + i}) = {float(v)!r} "
              f"({np.float32(v).view(np.uint32):#010x})")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ferparity.py",
                                 description="PyTorch reference fixtures for tests/test_parity.c",
                                 epilog="The module docstring documents weights, inputs "
                                 "and the .fert format.")
    ap.add_argument("--root", default=ROOT, help="source root (default: this script's parent)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make", help="regenerate the committed fixtures")
    p.add_argument("--out", required=True, help="fixture directory (tests/fixtures/parity)")
    p.add_argument("--seed", type=int, default=MAKE_TORCH_SEED, help="torch seed")
    p.add_argument("--nets", type=lambda s: s.split(","), default=list(NETS),
                   help=f"comma-separated subset of {','.join(NETS)}")
    p.set_defaults(func=cmd_make)
    p = sub.add_parser("live", help="fresh random weights, then run the C parity test on them")
    p.add_argument("--fer-test", required=True, help="the built tests/test_parity")
    p.add_argument("--tmp", help="directory for the fixtures (default: a new temporary one)")
    p.add_argument("--seed", type=int, help="torch seed (default: random, printed)")
    p.add_argument("--keep", action="store_true", help="keep the fixtures after success")
    p.add_argument("--nets", type=lambda s: s.split(","), default=list(NETS),
                   help=f"comma-separated subset of {','.join(NETS)}")
    p.set_defaults(func=cmd_live)
    p = sub.add_parser("hash", help="print fer_hash_uniform(SEED, I ...) to compare with C")
    p.add_argument("seed_value", metavar="SEED", type=int)
    p.add_argument("i", metavar="I", type=int)
    p.add_argument("count", metavar="COUNT", type=int, nargs="?", default=1)
    p.set_defaults(func=cmd_hash)
    args = ap.parse_args(argv)
    for n in getattr(args, "nets", []):
        if n not in NETS:
            ap.error(f"unknown net {n!r} (known: {', '.join(NETS)})")
    if args.cmd in ("make", "live"):
        try:
            import torch  # noqa: F401
        except ImportError:
            print("ferparity: torch is not importable; skipping (run with /usr/bin/python3 "
                  "and python3-torch)", file=sys.stderr)
            return 77
    try:
        return args.func(args)
    except (OSError, ferarch.ArchError, ferarch.ModelError) as e:
        print(f"ferparity: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
