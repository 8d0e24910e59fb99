"""ferd.Classifier (libferclassify through ctypes) against `fer classify` of the
same build, on the bundled face and on frames of the demo clip decoded by
OpenCV: the same faces and, to the last printed digit, the same numbers, for
every way of handing over an image; and the documented errors."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ferd
from conftest import DEMO, FACE, MODEL, env, run_c

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """face.png plus four frames of the demo clip (OpenCV decodes the clip), as PNG."""
    d = tmp_path_factory.mktemp("frames")
    cap = cv2.VideoCapture(DEMO)
    paths = [FACE]
    for k in (20, 95, 170, 245):
        cap.set(cv2.CAP_PROP_POS_FRAMES, k)
        ok, img = cap.read()
        assert ok, f"frame {k} of {DEMO}"
        p = str(d / f"frame{k}.png")
        assert cv2.imwrite(p, img)
        paths.append(p)
    cap.release()
    return paths


@pytest.fixture(scope="module")
def fer_lines(images):
    """`fer classify` on all the images, one invocation: {path: (line, object)}."""
    out = run_c([env("FER_BIN"), "classify", "--model", MODEL, *images], timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(images)
    return {json.loads(x)["path"]: (x, json.loads(x)) for x in lines}


@pytest.fixture(scope="module")
def clf():
    with ferd.Classifier(MODEL) as c:
        yield c


def _cjson_text(d):
    """The text cJSON writes for the double d: %1.15g when that reads back as d
    within its tolerance of one DBL_EPSILON relative, else %1.17g."""
    s = "%1.15g" % d
    back = float(s)
    if abs(back - d) <= max(abs(back), abs(d)) * sys.float_info.epsilon:
        return s
    return "%1.17g" % d


def printed(x):
    """x as `fer classify` prints a probability: C's round(x / 1e-4) * 1e-4 (halves
    away from zero), then written by cJSON."""
    v = x / 1e-4
    r = math.floor(v + 0.5) if v >= 0 else -math.floor(-v + 0.5)
    return _cjson_text(r * 1e-4)


def json_number(x):
    """The text cJSON wrote for a number that json.loads read back as x."""
    return _cjson_text(x)


def strip_clock(line):
    """A RESULT line without what depends on when it ran."""
    line = re.sub(r'"time":"[^"]*",', "", line)
    line = re.sub(r'"mono_ns":\d+,', "", line)
    return re.sub(r'"timing":\{[^}]*\},', "", line)


def assert_same_as_fer(r, want):
    """A typed in-process result against fer classify's object, digit for digit."""
    assert (r.width, r.height) == (want["width"], want["height"])
    assert len(r.faces) == len(want["faces"])
    for f, j in zip(r.faces, want["faces"]):
        assert f.box.as_tuple() == (j["box"]["x"], j["box"]["y"], j["box"]["w"], j["box"]["h"])
        assert f.label == j["label"]
        assert printed(f.prob) == json_number(j["prob"])
        assert list(f.scores) == list(j["scores"])
        for name, p in f.scores.items():
            assert printed(p) == json_number(j["scores"][name]), name
        assert f.smoothed.label == j["smoothed"]["label"]
        assert printed(f.smoothed.prob) == json_number(j["smoothed"]["prob"])
        assert f.new == j.get("new", False)


def test_agrees_with_fer_classify(clf, images, fer_lines):
    faces = 0
    for p in images:
        r = clf.classify(p)
        assert r.path == p
        assert_same_as_fer(r, fer_lines[p][1])
        faces += len(r.faces)
        if r.faces:
            assert clf.classes == tuple(fer_lines[p][1]["faces"][0]["scores"])
    assert faces >= 4  # the demo frames show faces: the comparison covers real ones


def test_python_m_ferd_classify_prints_fer_classify_lines(images, fer_lines):
    """The issue's check: `python -m ferd classify IMAGE`, one JSON line per image as fer
    classify prints it — equal text but for the clock (time, mono_ns, timing)."""
    out = subprocess.run([sys.executable, "-m", "ferd", "classify", "--model", MODEL, *images],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(images)
    for line, p in zip(lines, images):
        assert strip_clock(line) == strip_clock(fer_lines[p][0])
    # Single image, default model ($FER_MODEL): still one line.
    one = subprocess.run([sys.executable, "-m", "ferd", "classify", FACE], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, FER_MODEL=MODEL))
    assert one.returncode == 0, one.stderr
    assert strip_clock(one.stdout.strip()) == strip_clock(fer_lines[FACE][0])


def test_failures_as_fer_classify(tmp_path):
    bad = str(tmp_path / "bad.png")
    with open(bad, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n truncated")
    args = ["--no-scores", FACE, str(tmp_path / "absent.jpg"), bad, FACE]
    mine = subprocess.run([sys.executable, "-m", "ferd", "classify", "--model", MODEL, *args],
                          capture_output=True, text=True, timeout=120)
    theirs = run_c([env("FER_BIN"), "classify", "--model", MODEL, *args], timeout=120)
    assert mine.returncode == theirs.returncode == 1
    assert [strip_clock(x) for x in mine.stdout.splitlines()] == \
        [strip_clock(x) for x in theirs.stdout.splitlines()]
    assert '"seq":4' in mine.stdout and "scores" not in mine.stdout
    errs = mine.stderr.splitlines()
    assert len(errs) == 2 and "absent.jpg" in errs[0] and "bad.png" in errs[1]


def test_images_and_options_mixed_as_fer_classify(tmp_path):
    """Options between image names, as getopt_long takes them in fer classify."""
    absent = str(tmp_path / "absent.jpg")
    args = [FACE, "--no-scores", absent, "--model", MODEL, FACE, "--max-faces", "1", FACE]
    mine = subprocess.run([sys.executable, "-m", "ferd", "classify", *args],
                          capture_output=True, text=True, timeout=120)
    theirs = run_c([env("FER_BIN"), "classify", *args], timeout=120)
    assert mine.returncode == theirs.returncode == 1, mine.stderr
    lines = [strip_clock(x) for x in mine.stdout.splitlines()]
    assert lines == [strip_clock(x) for x in theirs.stdout.splitlines()]
    assert len(lines) == 3 and '"seq":4' in mine.stdout and "scores" not in mine.stdout
    assert "absent.jpg" in mine.stderr


def grey_as_ferd(bgr):
    """BGR to grey exactly as the pipeline converts (src/vision/preprocess.c)."""
    b, g, r = (bgr[:, :, i].astype(np.uint32) for i in range(3))
    return ((b * 1868 + g * 9617 + r * 4899 + 8192) >> 14).astype(np.uint8)


def test_every_input_form_gives_the_same_numbers(clf, images):
    for p in images:
        base = clf.classify(p)
        with open(p, "rb") as f:
            data = f.read()
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        forms = {
            "bytes": data,
            "bytearray": bytearray(data),
            "bgr array": bgr,
            "rgb array": (np.ascontiguousarray(bgr[:, :, ::-1]), "rgb"),
            "rgb view (negative channel stride)": (bgr[:, :, ::-1], "rgb"),
            "bgra array": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
            "grey array": grey_as_ferd(bgr),
            "grey HxWx1": grey_as_ferd(bgr)[:, :, None],
        }
        big = np.full((h + 40, w + 70, 3), 77, np.uint8)
        big[15:15 + h, 30:30 + w] = bgr
        forms["view into a larger array (row stride > width)"] = big[15:15 + h, 30:30 + w]
        for name, form in forms.items():
            img, pixels = form if isinstance(form, tuple) else (form, "bgr")
            r = clf.classify(img, pixels=pixels)
            assert len(r.faces) == len(base.faces), name
            for f, g in zip(r.faces, base.faces):
                assert f.box == g.box, name
                assert f.label == g.label and f.scores == g.scores, name
        # OpenCV's own grey conversion rounds a few pixels differently (its SIMD path):
        # the same faces, scores within a hair.
        r = clf.classify(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        assert [f.box for f in r.faces] == [f.box for f in base.faces]
        for f, g in zip(r.faces, base.faces):
            assert max(abs(f.scores[k] - g.scores[k]) for k in f.scores) < 0.01
        # A flipped view (negative row stride) is copied first: same as its copy.
        flipped = bgr[::-1]
        a, b = clf.classify(flipped), clf.classify(np.ascontiguousarray(flipped))
        assert [(f.box, f.scores) for f in a.faces] == [(f.box, f.scores) for f in b.faces]


def test_given_boxes(clf, images):
    r = clf.classify(images[0])
    assert r.faces
    boxes = [f.box for f in r.faces] + [(0, 0, 40, 40)]
    g = clf.classify(images[0], boxes=list(reversed(boxes)))
    assert [f.box for f in g.faces] == [ferd.Box(*b) if isinstance(b, tuple) else b
                                        for b in reversed(boxes)]
    # The face in a batch of two and alone: the network's products are blocked by batch
    # size, so the sums may round differently in the last bits (seen: 6e-9).
    assert g.faces[-1].scores.keys() == r.faces[0].scores.keys()
    assert max(abs(g.faces[-1].scores[k] - r.faces[0].scores[k]) for k in r.faces[0].scores) < 1e-6
    with pytest.raises(ferd.ImageError, match="box 1"):
        clf.classify(images[0], boxes=[(10, 10, 20, 20), (10, 10, 0, 5)])
    with pytest.raises(ferd.ImageError, match="four integers"):
        clf.classify(images[0], boxes=[(1, 2, 3)])
    with pytest.raises(ferd.ImageError, match="at most 16"):
        clf.classify(images[0], boxes=[(0, 0, 9, 9)] * 17)
    assert clf.classify(images[0], boxes=[]).faces == []


def test_errors(clf, tmp_path):
    missing = str(tmp_path / "missing.png")
    with pytest.raises(ferd.ImageError) as ei:
        clf.classify(missing)
    assert missing in str(ei.value) and ei.value.code == -2  # -ENOENT
    with pytest.raises(ferd.ImageError, match="image in memory"):
        clf.classify(b"definitely not a picture")
    with pytest.raises(ferd.ImageError, match="uint8"):
        clf.classify(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ferd.ImageError, match="shape"):
        clf.classify(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ferd.ImageError, match="empty"):
        clf.classify(np.zeros((0, 10), np.uint8))
    with pytest.raises(ferd.ImageError, match="3 channels"):
        clf.classify(np.zeros((10, 10, 3), np.uint8), pixels="grey")
    with pytest.raises(ValueError, match="pixels"):
        clf.classify(np.zeros((10, 10, 3), np.uint8), pixels="hsv")
    with pytest.raises(TypeError):
        clf.classify(12345)
    blank = clf.classify(np.full((100, 120), 128, np.uint8))
    assert blank.faces == [] and (blank.width, blank.height) == (120, 100)


def test_model_errors(tmp_path, monkeypatch):
    with pytest.raises(ferd.ModelError, match="nothing.fermodel"):
        ferd.Classifier(str(tmp_path / "nothing.fermodel"))
    with pytest.raises(ferd.ModelError, match="face.png"):
        ferd.Classifier(FACE)
    with pytest.raises(ValueError, match="max_faces"):
        ferd.Classifier(MODEL, max_faces=0)
    with pytest.raises(ValueError, match="scale_factor"):
        ferd.Classifier(MODEL, scale_factor=0.5)
    with pytest.raises(ferd.ModelError, match="nocascade.xml"):
        ferd.Classifier(MODEL, cascade=str(tmp_path / "nocascade.xml"))
    with pytest.raises(ferd.LibraryNotFoundError, match="FERD_CLASSIFY_LIB"):
        ferd.Classifier(MODEL, library=str(tmp_path / "libnothing.so"))
    # The default model: $FER_MODEL first; then ferd's data directory: $FER_DATA_DIR,
    # else the source tree of the build this library belongs to (as `fer classify`).
    monkeypatch.setenv("FER_MODEL", MODEL)
    with ferd.Classifier() as c:
        assert c.model_path == MODEL
    monkeypatch.delenv("FER_MODEL")
    with ferd.Classifier() as c:
        assert os.path.samefile(c.model_path, MODEL)
        assert c.model_name == "default"
    data = tmp_path / "data"
    (data / "models").mkdir(parents=True)
    shutil.copy(MODEL, data / "models" / "default.fermodel")
    monkeypatch.setenv("FER_DATA_DIR", str(data))
    with ferd.Classifier() as c:
        assert c.model_path == str(data / "models" / "default.fermodel")
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    with pytest.raises(ferd.ModelError, match="no model given") as ei:
        ferd.Classifier()
    assert str(tmp_path / "models" / "default.fermodel") in str(ei.value)


def test_installed_from_a_build_tree_needs_no_setting(fer_lines):
    """pip recorded this build's library (python/setup.py); with neither
    $FERD_CLASSIFY_LIB nor $FER_MODEL the package still finds library and model."""
    import ferd._built
    lib = os.path.join(env("FERD_CLASSIFY_LIB"), "libferclassify.so.0")
    assert os.path.samefile(ferd._built.BUILD_TREE_LIBRARY, lib)
    e = {k: v for k, v in os.environ.items() if k not in ("FERD_CLASSIFY_LIB", "FER_MODEL")}
    out = subprocess.run([sys.executable, "-m", "ferd", "classify", FACE], capture_output=True,
                         text=True, timeout=120, env=e, cwd="/")
    assert out.returncode == 0, out.stderr
    assert strip_clock(out.stdout.strip()) == strip_clock(fer_lines[FACE][0])


def test_options(images):
    with ferd.Classifier(MODEL, largest_only=True) as c:
        assert len(c.classify(images[1]).faces) <= 1
    with ferd.Classifier(MODEL, min_face=400) as c:
        assert c.classify(images[0]).faces == []  # the fixture's face is 83 px


def test_result_json_is_fer_classifys(clf, fer_lines):
    r = clf.classify(FACE)
    assert strip_clock(clf.result_json(r)) == strip_clock(fer_lines[FACE][0]).replace(
        '"seq":1,', f'"seq":{r.seq},').replace('"id":1,', f'"id":{r.faces[0].id},')
    assert "scores" not in clf.result_json(r, scores=False)


def test_threads_share_and_split(clf, images):
    want = {p: clf.classify(p) for p in images}
    others = [ferd.Classifier(MODEL) for _ in range(2)]
    bad = []

    def work(c, rounds):
        for i in range(rounds):
            p = images[i % len(images)]
            got = c.classify(p)
            if [f.scores for f in got.faces] != [f.scores for f in want[p].faces]:
                bad.append(p)
    ts = [threading.Thread(target=work, args=(c, 6)) for c in (clf, clf, *others)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in others:
        c.close()
    assert bad == []
    ferd.set_threads(1)
    with pytest.raises(ValueError):
        ferd.set_threads(0)
    assert ferd.library_version() == ferd.__version__


def test_close_waits_for_calls_in_flight(images):
    c = ferd.Classifier(MODEL)
    seen = []

    def work():
        try:
            for _ in range(500):  # close() comes long before these are done
                c.classify(images[1])
                seen.append("ok")
        except ferd.ClassifierError as e:
            seen.append(str(e))
    t = threading.Thread(target=work)
    t.start()
    while not seen:
        time.sleep(0.01)
    c.close()  # waits for the call in flight, then frees; the next call is refused
    t.join()
    assert seen[-1] == "Classifier is closed" and 1 <= seen.count("ok") < 500


def test_closed_classifier():
    c = ferd.Classifier(MODEL)
    c.close()
    c.close()
    with pytest.raises(ferd.ClassifierError, match="closed"):
        c.classify(FACE)
