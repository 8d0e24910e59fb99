#!/usr/bin/python3
"""test_fer_calibrate — `fer calibrate` and `fer eval`'s calibration figures, run as
a user runs them: the real `fer` binary on a random-weight model (tests/make_model)
and a small FER2013-format CSV written here.

Checks:
  - fer calibrate writes the model with a "calibration" header block (temperature,
    split, NLL and ECE before and after); the NLL does not rise; every tensor byte
    is unchanged; --out leaves the input untouched; without --out it replaces it;
  - a failed calibration (a split without images) exits 1 and leaves the file as it
    was;
  - fer eval --json prints, as its last stdout line, one JSON object with accuracy,
    macro_f1, ece, nll, the split and per-class figures; its NLL and ECE on the
    fitting split are the fit's "after" figures (the temperature is applied), and
    equal the "before" figures on the uncalibrated model;
  - fer eval --report writes reliability.png beside confusion.png (real PNGs);
  - fer eval --record stores the accuracy and what it was measured on (split, FER+,
    TTA) in the header, and fer info shows it;
  - the training command recorded in a model's header names `fer` and the datasets'
    file names, never the folders they were in.
Environment: FER_BIN, MAKE_MODEL, FER_SOURCE_ROOT (meson sets them).
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

FER = os.environ.get("FER_BIN")
MAKE_MODEL = os.environ.get("MAKE_MODEL")
ROOT = os.environ.get("FER_SOURCE_ROOT", ".")


def header_and_data(path):
    with open(path, "rb") as f:
        b = f.read()
    assert b[:8] == b"FERMODEL", path
    h = struct.unpack("<I", b[12:16])[0]
    header = json.loads(b[16:16 + h])
    d = (16 + h + 63) // 64 * 64
    return header, b[d:d + header["data_bytes"]], b


def run(*args, expect=0):
    p = subprocess.run([FER, *args], capture_output=True, text=True, timeout=300)
    if p.returncode != expect:
        sys.exit(f"FAIL: fer {' '.join(args)} exited {p.returncode} (want {expect})\n"
                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def write_csv(path, rng, per_split=40):
    # Pixels carry a weak class signal (a brightness offset per class) so that the
    # random network's logits are not independent of the labels.
    with open(path, "w") as f:
        f.write("emotion,pixels,Usage\n")
        for usage in ("Training", "PublicTest", "PrivateTest"):
            for i in range(per_split):
                label = i % 7
                px = " ".join(str(min(255, max(0, rng.randint(0, 200) + 8 * label)))
                              for _ in range(48 * 48))
                f.write(f"{label},{px},{usage}\n")


def write_ferplus(path, per_split=40):
    # Row-aligned votes: the FER2013 label's emotion gets 6 votes, neutral 4, except
    # every fifth row where they tie 5-5 (a tie the fit must score as fer eval does).
    cols = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    fer_to_col = {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "sadness",
                  5: "surprise", 6: "neutral"}
    with open(path, "w") as f:
        f.write("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,"
                "contempt,unknown,NF\n")
        row = 0
        for usage in ("Training", "PublicTest", "PrivateTest"):
            for i in range(per_split):
                votes = dict.fromkeys(cols, 0)
                main = fer_to_col[i % 7]
                votes["neutral"] += 5 if i % 5 == 0 else 4
                votes[main] += 5 if i % 5 == 0 else 6
                f.write(f"{usage},fer{row:07d}.png," + ",".join(str(votes[c]) for c in cols)
                        + ",0,0\n")
                row += 1


def check(cond, msg):
    if not cond:
        sys.exit(f"FAIL: {msg}")


def main():
    if not FER or not MAKE_MODEL:
        print("skipped: FER_BIN and MAKE_MODEL must be set")
        return 77
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="fer-calibrate-") as tmp:
        model = os.path.join(tmp, "m.fermodel")
        subprocess.run([MAKE_MODEL, os.path.join(ROOT, "models", "default.arch"), model, "3"],
                       check=True)
        data = os.path.join(tmp, "data.csv")
        write_csv(data, rng)
        h0, d0, raw0 = header_and_data(model)
        check("calibration" not in h0, "a fresh model has no calibration block")

        # Uncalibrated figures on PublicTest.
        p = run("eval", "--model", model, "--data", data, "--split", "PublicTest", "--json")
        before = json.loads(p.stdout.strip().splitlines()[-1])
        for key in ("accuracy", "macro_f1", "ece", "nll", "split", "per_class"):
            check(key in before, f"fer eval --json lacks {key}")
        check(before["split"] == "PublicTest", "split named in the JSON")
        check(before["temperature"] == 1, "uncalibrated temperature 1")

        # --out: a new file, the input untouched.
        out = os.path.join(tmp, "cal.fermodel")
        p = run("calibrate", "--model", model, "--data", data, "--out", out)
        check("temperature" in p.stdout and "NLL" in p.stdout, f"summary: {p.stdout}")
        check(open(model, "rb").read() == raw0, "--out must leave --model untouched")
        h1, d1, _ = header_and_data(out)
        cal = h1.get("calibration")
        check(cal is not None, "calibration block written")
        check(cal["split"] == "PublicTest", f"split {cal.get('split')}")
        check(0.05 <= cal["temperature"] <= 20, f"temperature {cal['temperature']}")
        check(cal["nll_after"] <= cal["nll_before"] + 1e-7, f"NLL rose: {cal}")
        check(d1 == d0, "tensor data changed by calibration")
        check(abs(cal["nll_before"] - before["nll"]) < 1e-4,
              f"fit's NLL before {cal['nll_before']} vs eval {before['nll']}")
        check(abs(cal["ece_before"] - before["ece"]) < 1e-4,
              f"fit's ECE before {cal['ece_before']} vs eval {before['ece']}")
        check({k: v for k, v in h1.items() if k != "calibration"} ==
              {k: v for k, v in h0.items()}, "other header fields changed")

        # fer eval applies the temperature: its figures are the fit's "after".
        rep = os.path.join(tmp, "report")
        p = run("eval", "--model", out, "--data", data, "--split", "PublicTest", "--json",
                "--report", rep)
        after = json.loads(p.stdout.strip().splitlines()[-1])
        check(abs(after["nll"] - cal["nll_after"]) < 1e-4,
              f"eval NLL {after['nll']} vs fit {cal['nll_after']}")
        check(abs(after["ece"] - cal["ece_after"]) < 1e-4,
              f"eval ECE {after['ece']} vs fit {cal['ece_after']}")
        check(abs(after["temperature"] - cal["temperature"]) < 1e-6, "temperature reported")
        check(after["accuracy"] == before["accuracy"], "temperature changed the accuracy")
        for name in ("reliability.png", "confusion.png"):
            with open(os.path.join(rep, name), "rb") as f:
                check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG")
        with open(os.path.join(rep, "metrics.json")) as f:
            check("ece" in json.load(f), "metrics.json has the ECE")
        p = run("eval", "--model", out, "--data", data, "--split", "PublicTest")
        check("ECE" in p.stdout and "NLL" in p.stdout, "tables show ECE and NLL")

        # In place, and a failure leaves the file as it was.
        run("calibrate", "--model", model, "--data", data)
        h2, d2, raw2 = header_and_data(model)
        check(h2["calibration"]["temperature"] == cal["temperature"], "in-place calibration")
        empty = os.path.join(tmp, "empty.csv")
        with open(empty, "w") as f:
            f.write("emotion,pixels,Usage\n")
        p = run("calibrate", "--model", model, "--data", empty, expect=1)
        check("PublicTest" in p.stderr, f"error names the split: {p.stderr}")
        check(open(model, "rb").read() == raw2, "a failed calibration changed the model")
        # FER+ votes: the fit scores ties as fer eval does, so its "after" figures are
        # again fer eval's on the calibrated model.
        fp = os.path.join(tmp, "fer2013new.csv")
        write_ferplus(fp)
        fpm = os.path.join(tmp, "fp.fermodel")
        p = run("calibrate", "--model", out, "--data", data, "--labels", "ferplus:" + fp,
                "--out", fpm)
        cal2 = header_and_data(fpm)[0]["calibration"]
        p = run("eval", "--model", fpm, "--data", data, "--labels", "ferplus:" + fp,
                "--split", "PublicTest", "--json")
        ev = json.loads(p.stdout.strip().splitlines()[-1])
        check(ev.get("ties", 0) > 0, f"the FER+ fixture has ties: {ev.get('ties')}")
        check(abs(ev["nll"] - cal2["nll_after"]) < 1e-4,
              f"FER+ eval NLL {ev['nll']} vs fit {cal2['nll_after']}")
        check(abs(ev["ece"] - cal2["ece_after"]) < 1e-4,
              f"FER+ eval ECE {ev['ece']} vs fit {cal2['ece_after']}")

        # fer eval --record: the accuracy and what it was measured on, in the header.
        p = run("eval", "--model", fpm, "--data", data, "--labels", "ferplus:" + fp,
                "--split", "PrivateTest", "--json", "--record")
        acc = json.loads(p.stdout.strip().splitlines()[-1])["accuracy"]
        meta = header_and_data(fpm)[0]["meta"]
        check(meta.get("test_split") == "PrivateTest FER+", f"test_split {meta.get('test_split')}")
        check(abs(meta["test_acc"] - acc) < 1e-6, f"test_acc {meta['test_acc']} vs {acc}")
        p = run("info", fpm)
        check("(PrivateTest FER+)" in p.stdout, f"fer info: {p.stdout}")
        run("eval", "--model", fpm, "--data", data, "--split", "test", "--tta", "flip", "--json",
            "--record")
        check(header_and_data(fpm)[0]["meta"]["test_split"] == "PrivateTest flip",
              "a CSV's test split recorded by its CSV name, with the TTA")

        # The training command in a header names programs and datasets as a user has
        # them: `fer`, and the datasets' file names, never the folders they were in.
        sub = os.path.join(tmp, "deep", "er")
        os.makedirs(sub)
        deep_data = os.path.join(sub, "fer2013.csv")
        os.rename(data, deep_data)
        os.rename(fp, os.path.join(sub, "fer2013new.csv"))
        runs = os.path.join(tmp, "run")
        run("train", "--data", deep_data, "--labels=ferplus:" + os.path.join(sub, "fer2013new.csv"),
            "--out", runs, "--arch", "ferplus", "--epochs", "1", "--batch", "8",
            "--max-train", "16", "--max-val", "8", "--quiet")
        cmd = header_and_data(os.path.join(runs, "best.fermodel"))[0]["meta"]["command"]
        check(cmd.startswith("fer train --data fer2013.csv --labels=ferplus:fer2013new.csv --out "),
              f"recorded command: {cmd}")
        check(sub not in cmd and "deep/" not in cmd, f"a development folder in: {cmd}")

        leftovers = [n for n in os.listdir(tmp) if ".tmp" in n]
        check(not leftovers, f"temporary files left: {leftovers}")
    print("ok: fer calibrate and fer eval's calibration figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
