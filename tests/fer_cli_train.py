#!/usr/bin/python3
"""fer_cli_train.py — `fer train` and `fer eval` options, driven as a user drives them.

The real `fer` binary on small files this script writes into a temporary folder: a
FER2013-style CSV of 48x48 random images and a FER+ vote file row-aligned with it.
It checks what the C unit tests cannot see: the option parsing, the counts printed
per split, the JSON of `fer eval --labels`, that `--resume` takes the label source
from the checkpoint, distillation's, EMA's and mixing's options reaching the model,
and that bad combinations fail with a message naming the file and line. Run by meson (suite 'unit') with FER_BIN set; stdlib only.
"""
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile

FER = os.environ.get("FER_BIN")
USAGES = ["Training"] * 96 + ["PublicTest"] * 32 + ["PrivateTest"] * 32
HEADER = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
          "contempt,unknown,NF")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg, *args):
    if not cond:
        fail(msg % args)


def run(*args, expect=0):
    p = subprocess.run([FER] + list(args), capture_output=True, text=True, timeout=600)
    check(p.returncode == expect, "fer %s: exit %d, expected %d\nstdout: %s\nstderr: %s",
          " ".join(args), p.returncode, expect, p.stdout[-2000:], p.stderr[-2000:])
    return p


def votes_for(i):
    """Votes of row i (FER+ column order) and what the row counts as:
    'nf', 'unknown', 'tie' or 'kept'."""
    k = i % 10
    if k == 3:
        return [0, 0, 0, 0, 0, 0, 0, 0, 1, 9], "nf"
    if k == 7:
        return [2, 0, 0, 0, 0, 0, 0, 0, 8, 0], "unknown"
    if k == 5:
        return [4, 4, 0, 0, 0, 0, 0, 0, 2, 0], "tie"
    v = [0] * 10
    v[i % 8] = 7
    v[(i + 1) % 8] = 3
    return v, "kept"


def write_files(d):
    rng = random.Random(7)
    data = os.path.join(d, "fer2013.csv")
    with open(data, "w") as f:
        f.write("emotion,pixels,Usage\n")
        for i, u in enumerate(USAGES):
            pix = " ".join(str(rng.randrange(256)) for _ in range(48 * 48))
            f.write("%d,%s,%s\n" % (i % 7, pix, u))
    labels = os.path.join(d, "fer2013new.csv.gz")
    expect = {u: {"kept": 0, "tie": 0, "unknown": 0, "nf": 0} for u in set(USAGES)}
    with gzip.open(labels, "wt") as f:
        f.write(HEADER + "\n")
        for i, u in enumerate(USAGES):
            v, kind = votes_for(i)
            f.write("%s,fer%07d.png,%s\n" % (u, i, ",".join(map(str, v))))
            expect[u][kind] += 1
    for u in expect:
        expect[u]["kept"] += expect[u]["tie"]
    return data, labels, expect


def main():
    check(FER and os.access(FER, os.X_OK), "FER_BIN is not set to the fer binary")
    with tempfile.TemporaryDirectory(prefix="fer-cli-train-") as d:
        data, labels, expect = write_files(d)
        out = os.path.join(d, "run")
        spec = "ferplus:" + labels

        # Training on the votes: the counts per split are printed.
        p = run("train", "--data", data, "--labels", spec, "--ferplus-target", "dist",
                "--arch", "ferplus", "--out", out, "--epochs", "1", "--batch", "16", "--quiet")
        for u in ("Training", "PublicTest"):
            e = expect[u]
            line = ("FER+ %s: %d images kept (%d with tied top votes), dropped %d 'unknown' "
                    "and %d 'not a face'" % (u, e["kept"], e["tie"], e["unknown"], e["nf"]))
            check(line in p.stderr, "missing %r in:\n%s", line, p.stderr)
        check("PrivateTest" not in p.stderr, "PrivateTest was loaded for training")
        model = os.path.join(out, "best.fermodel")
        info = run("info", model).stdout
        check('"labels":"ferplus:fer2013new.csv.gz","target":"dist"' in info,
              "meta.extra lacks the label source:\n%s", info)

        # A second run into a folder that holds one is refused unless meant, and the
        # run is left as it was.
        before = open(model, "rb").read()
        p = run("train", "--data", data, "--arch", "ferplus", "--labels", spec, "--out", out,
                "--epochs", "1", "--quiet", expect=1)
        check("already holds a training run" in p.stderr and "--resume" in p.stderr and
              "--force" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
              "a second run into %s: %s", out, p.stderr)
        check(open(model, "rb").read() == before, "the refused run touched best.fermodel")
        p = run("train", "--data", data, "--out", out, "--resume", "--force", expect=64)
        check(len(p.stderr.strip().splitlines()) == 1, "%s", p.stderr)
        p = run("train", "--data", data, "--out", out, "--epocs", "1", expect=64)
        check("did you mean '--epochs'" in p.stderr and
              len(p.stderr.strip().splitlines()) == 1, "unknown option: %s", p.stderr)

        # --resume without --labels takes them from the checkpoint (nothing is left
        # to train, but the labels are loaded and checked against its CRC) ...
        p = run("train", "--resume", "--data", data, "--out", out, "--quiet")
        check("FER+ Training" in p.stderr, "resume did not load the labels:\n%s", p.stderr)
        # ... and refuses labels whose content changed.
        changed = os.path.join(d, "changed.csv")
        with gzip.open(labels, "rt") as f:
            text = f.read().replace("Training,fer0000000.png,7,3", "Training,fer0000000.png,6,4")
        with open(changed, "w") as f:
            f.write(text)
        p = run("train", "--resume", "--data", data, "--out", out, "--labels",
                "ferplus:" + changed, expect=1)
        check("differ" in p.stderr and "checkpoint.ferckpt" in p.stderr,
              "changed labels not refused clearly:\n%s", p.stderr)

        # Evaluation: majority-vote accuracy, the tie rule, ties and drops in the JSON.
        p = run("eval", "--model", model, "--data", data, "--labels", spec, "--split",
                "PrivateTest", "--json")
        j = json.loads(p.stdout.strip().splitlines()[-1])
        e = expect["PrivateTest"]
        check(j["images"] == e["kept"], "images %s, expected %d", j["images"], e["kept"])
        check(j["ties"] == e["tie"], "ties %s, expected %d", j["ties"], e["tie"])
        check(j["dropped_unknown"] == e["unknown"] and j["dropped_not_face"] == e["nf"],
              "dropped counts wrong: %s", j)
        check("any of the tied" in j["tie_rule"], "tie rule not stated: %s", j)
        check(0.0 <= j["accuracy_no_ties"] <= 1.0 and 0.0 <= j["accuracy"] <= 1.0,
              "accuracies out of range: %s", j)
        check(len(j["classes"]) == 8 and j["classes"][7] == "contempt", "classes: %s",
              j["classes"])
        p = run("eval", "--model", model, "--data", data, "--labels", spec, "--split",
                "PrivateTest")
        check("counts as correct if the prediction is any of them" in p.stdout,
              "the table output does not state the tie rule:\n%s", p.stdout)

        # Labels not aligned with the data: the error names the file and the line.
        bad = os.path.join(d, "bad.csv")
        with gzip.open(labels, "rt") as f:
            lines = f.read().splitlines()
        lines[50] = lines[50].replace("Training", "PublicTest", 1)  # data row 50 (1-based)
        with open(bad, "w") as f:
            f.write("\n".join(lines) + "\n")
        p = run("eval", "--model", model, "--data", data, "--labels", "ferplus:" + bad,
                "--split", "PrivateTest", expect=1)
        check("bad.csv:51: usage PublicTest, but the data's row 50 is Training" in p.stderr,
              "misaligned labels: %s", p.stderr)

        # Distillation from the model just trained (8 classes, like the student) ...
        kd = os.path.join(d, "kd")
        run("train", "--data", data, "--labels", spec, "--arch", "ferplus", "--out", kd,
            "--epochs", "1", "--batch", "16", "--quiet", "--teacher", model + "," + model,
            "--kd-temp", "3", "--kd-weight", "0.25", "--kd-flip", "--ema", "0.99",
            "--mixup", "0.2", "--cutmix", "1", "--mix-prob", "0.5")
        info = run("info", os.path.join(kd, "best.fermodel")).stdout
        check('"teachers":[{"file":"best.fermodel","crc32":"' in info and
              '"kd_temp":3,"kd_weight":0.25,"kd_flip":true' in info and '"ema":0.99' in info
              and '"mixup":0.2,"cutmix":1,"mix_prob":0.5' in info,
              "meta.extra lacks the teachers:\n%s", info)
        # ... and a 7-class teacher refused, naming its file.
        seven = os.path.join(d, "seven.fermodel")
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                           "default.fermodel")
        with open(src, "rb") as f, open(seven, "wb") as g:
            g.write(f.read())
        p = run("train", "--data", data, "--labels", spec, "--arch", "ferplus", "--out",
                os.path.join(d, "kd7"), "--epochs", "1", "--teacher", seven, expect=1)
        check("seven.fermodel" in p.stderr and "classes" in p.stderr,
              "a teacher with other classes: %s", p.stderr)

        # Bad combinations.
        p = run("train", "--data", data, "--out", os.path.join(d, "x"), "--ferplus-target",
                "dist", expect=64)
        check("--ferplus-target needs --labels" in p.stderr, "%s", p.stderr)
        p = run("train", "--data", data, "--labels", "votes.csv", "--out",
                os.path.join(d, "x"), expect=1)
        check("is not ferplus:FILE" in p.stderr, "%s", p.stderr)
        p = run("train", "--data", data, "--labels", spec, "--out", os.path.join(d, "x"),
                "--epochs", "1", expect=1)
        check("'contempt'" in p.stderr, "a 7-class arch with FER+ labels: %s", p.stderr)
        p = run("train", "--data", data, "--out", os.path.join(d, "x"), "--kd-temp", "2",
                expect=64)
        check("need --teacher" in p.stderr, "%s", p.stderr)
        p = run("train", "--data", data, "--out", os.path.join(d, "x"), "--teacher", "a,,b",
                expect=64)
        check("an empty path" in p.stderr, "%s", p.stderr)
        p = run("train", "--data", data, "--out", os.path.join(d, "x"), "--ema", "1", expect=64)
        check("--ema: '1' is not a number in [0," in p.stderr, "%s", p.stderr)
        p = run("train", "--data", data, "--out", os.path.join(d, "x"), "--mix-prob", "0.5",
                expect=64)
        check("--mix-prob needs --mixup or --cutmix" in p.stderr, "%s", p.stderr)
    print("ok")


if __name__ == "__main__":
    main()
