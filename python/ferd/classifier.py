"""ferd.classifier — in-process classification through libferclassify (ctypes).

Design. All image work happens in the C library, which runs the code `fer
classify` runs; this module only describes the library's structs to ctypes,
turns Python inputs (a path, encoded bytes, a numpy array) into one of its
three calls, and its result into the dataclasses of ferd.results. Defaults of
the detection options come from the library (fer_classifier_opts_init), so
Python and C cannot drift apart. The JSON line of `python -m ferd classify` is
written by the library's encoder, the one the daemon and `fer classify` use.

Finding the library, first hit wins:
  1. the ``library=`` argument, then $FERD_CLASSIFY_LIB: a path to the shared
     object, or to a directory holding libferclassify.so.0 (a build tree's
     build/classify);
  2. the build tree recorded when the package was installed from a checkout
     (python/setup.py: $FERD_CLASSIFY_LIB at that time, else the checkout's
     build/classify), when it still exists;
  3. libferclassify.so.0 through the dynamic loader (installed: ldconfig's cache,
     LD_LIBRARY_PATH);
  4. the library directories meson installs to by default
     (/usr/local/lib/<multiarch>, /usr/local/lib, /usr/lib/<multiarch>).
The model: the ``model=`` argument, else the library's own search: $FER_MODEL,
else models/default.fermodel of ferd's data directory ($FER_DATA_DIR, the source
tree of the uninstalled build the library belongs to, or the installed one).

ctypes releases the GIL during each call, and the library locks per handle, so
threads may share a Classifier or, faster, use one each.
"""

import contextlib
import ctypes
import errno as _errno
import importlib
import os
import sysconfig
import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from .errors import ClassifierError, ImageError, LibraryNotFoundError, ModelError
from .results import Box, Face, Result, Smoothed, Timing, time_from_ms

SONAME = "libferclassify.so.0"
LIB_ENV = "FERD_CLASSIFY_LIB"
MAX_FACES = 16
MAX_CLASSES = 32
PIXELS = {"grey": 1, "gray": 1, "bgr": 2, "rgb": 3}
# Options whose range the library checks; its message starts with the name.
_OPTIONS = ("max_faces", "detect_width", "scale_factor", "min_neighbors", "min_face")


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class _Opts(ctypes.Structure):
    _fields_ = [("cascade", ctypes.c_char_p), ("max_faces", ctypes.c_int),
                ("largest_only", ctypes.c_int), ("detect_width", ctypes.c_int),
                ("scale_factor", ctypes.c_double), ("min_neighbors", ctypes.c_int),
                ("min_face", ctypes.c_int)]


class _Image(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("stride", ctypes.c_size_t), ("format", ctypes.c_int)]


class _Box(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int),
                ("h", ctypes.c_int)]


class _Face(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int), ("box", _Box), ("label", ctypes.c_int),
                ("prob", ctypes.c_float), ("scores", ctypes.c_float * MAX_CLASSES),
                ("smoothed_label", ctypes.c_int), ("smoothed_prob", ctypes.c_float),
                ("is_new", ctypes.c_int)]


class _Result(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("wall_ms", ctypes.c_int64),
                ("mono_ns", ctypes.c_uint64), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("detect_ms", ctypes.c_double), ("classify_ms", ctypes.c_double),
                ("total_ms", ctypes.c_double), ("nclasses", ctypes.c_int),
                ("nfaces", ctypes.c_int), ("faces", _Face * MAX_FACES)]


def _built_library() -> str:
    """The build tree library recorded when the package was built (python/setup.py)."""
    try:
        mod = importlib.import_module("ferd._built")
    except ImportError:
        return ""
    p = getattr(mod, "BUILD_TREE_LIBRARY", "")
    return p if isinstance(p, str) and p and os.path.isfile(p) else ""


def _candidates(library: Optional[str]) -> List[str]:
    given = library or os.environ.get(LIB_ENV, "")
    if given:
        return [os.path.join(given, SONAME) if os.path.isdir(given) else given]
    out = []
    built = _built_library()
    if built:
        out.append(built)
    out.append(SONAME)
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for d in ("/usr/local/lib/" + multiarch, "/usr/local/lib", "/usr/lib/" + multiarch):
        out.append(os.path.join(d, SONAME))
    return out


_libs: Dict[str, ctypes.CDLL] = {}
_libs_lock = threading.Lock()


def load_library(library: Optional[str] = None) -> ctypes.CDLL:
    """libferclassify, loaded once per path and described to ctypes."""
    cands = _candidates(library)
    with _libs_lock:
        for c in cands:
            if c in _libs:
                return _libs[c]
        errors = []
        for c in cands:
            try:
                lib = ctypes.CDLL(c)
            except OSError as e:
                errors.append(str(e))
                continue
            _declare(lib)
            _libs[c] = lib
            return lib
    where = (f"{cands[0]} (from the library argument or ${LIB_ENV})" if len(cands) == 1
             else ", ".join(cands))
    raise LibraryNotFoundError(
        f"cannot load libferclassify: tried {where}: {errors[-1] if errors else 'not found'}; "
        f"install ferd (meson install), or set {LIB_ENV} to a build tree's "
        f"build/classify directory", -_errno.ENOENT)


def _declare(lib: ctypes.CDLL) -> None:
    P = ctypes.POINTER
    lib.fer_classifier_version.restype = ctypes.c_char_p
    lib.fer_classifier_version.argtypes = []
    lib.fer_classifier_opts_init.restype = None
    lib.fer_classifier_opts_init.argtypes = [P(_Opts)]
    lib.fer_classifier_open.restype = ctypes.c_int
    lib.fer_classifier_open.argtypes = [P(ctypes.c_void_p), ctypes.c_char_p, P(_Opts), P(_Error)]
    lib.fer_classifier_close.restype = None
    lib.fer_classifier_close.argtypes = [ctypes.c_void_p]
    lib.fer_classifier_nclasses.restype = ctypes.c_int
    lib.fer_classifier_nclasses.argtypes = [ctypes.c_void_p]
    for name in ("fer_classifier_class_name",):
        getattr(lib, name).restype = ctypes.c_char_p
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name in ("fer_classifier_model_path", "fer_classifier_model_name"):
        getattr(lib, name).restype = ctypes.c_char_p
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.fer_classifier_classify.restype = ctypes.c_int
    lib.fer_classifier_classify.argtypes = [ctypes.c_void_p, P(_Image), P(_Box), ctypes.c_int,
                                            P(_Result), P(_Error)]
    lib.fer_classifier_classify_encoded.restype = ctypes.c_int
    lib.fer_classifier_classify_encoded.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                                    ctypes.c_size_t, P(_Box), ctypes.c_int,
                                                    P(_Result), P(_Error)]
    lib.fer_classifier_classify_file.restype = ctypes.c_int
    lib.fer_classifier_classify_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p, P(_Box),
                                                 ctypes.c_int, P(_Result), P(_Error)]
    lib.fer_classifier_result_json.restype = ctypes.c_int
    lib.fer_classifier_result_json.argtypes = [ctypes.c_void_p, P(_Result), ctypes.c_char_p,
                                               ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t]
    lib.fer_classifier_set_threads.restype = None
    lib.fer_classifier_set_threads.argtypes = [ctypes.c_int]
    lib.fer_classifier_strerror.restype = ctypes.c_char_p
    lib.fer_classifier_strerror.argtypes = [ctypes.c_int]


def set_threads(n: int, *, library: Optional[str] = None) -> None:
    """Threads OpenBLAS and OpenCV may use in this process (fer_classifier_set_threads).
    With one Classifier per thread, 1 is fastest."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"set_threads: n must be an integer >= 1, not {n!r}")
    load_library(library).fer_classifier_set_threads(n)


def _fs(p: Union[str, "os.PathLike[str]", bytes]) -> bytes:
    return os.fsencode(p)


ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]
BoxInput = Union[Box, Tuple[int, int, int, int], Sequence[int]]


class Classifier:
    """Faces and their expressions in images, in this process.

    >>> clf = ferd.Classifier()                        # the installed default model
    >>> r = clf.classify("photo.jpg")                  # or bytes, or a numpy array
    >>> [(f.label, round(f.prob, 2), f.box) for f in r.faces]

    model: a .fermodel path (None: $FER_MODEL, else ferd's default model). The
    keyword options set how faces are found; None keeps the library's default
    (that of `fer classify`): max_faces 8 (at most 16), largest_only False,
    detect_width 640 (0: full size), scale_factor 1.1, min_neighbors 4, min_face
    24 pixels, cascade OpenCV's frontal-face cascade. Raises ModelError for a
    model or cascade that cannot be opened, LibraryNotFoundError when
    libferclassify cannot be loaded, ValueError for an option out of range (the
    message names it).
    """

    def __init__(self, model: Union[str, "os.PathLike[str]", None] = None, *,
                 max_faces: Optional[int] = None, largest_only: Optional[bool] = None,
                 detect_width: Optional[int] = None, scale_factor: Optional[float] = None,
                 min_neighbors: Optional[int] = None, min_face: Optional[int] = None,
                 cascade: Union[str, "os.PathLike[str]", None] = None,
                 library: Optional[str] = None):
        self._h: Optional[int] = None
        # Calls in flight, so close() waits for them instead of freeing under them.
        self._cv = threading.Condition()
        self._busy = 0
        self._closing = False
        self._lib = load_library(library)
        opts = _Opts()
        self._lib.fer_classifier_opts_init(ctypes.byref(opts))
        self._cascade = _fs(cascade) if cascade is not None else None
        opts.cascade = self._cascade
        for name, val in (("max_faces", max_faces), ("detect_width", detect_width),
                          ("min_neighbors", min_neighbors), ("min_face", min_face)):
            if val is not None:
                if isinstance(val, bool) or not isinstance(val, int):
                    raise ValueError(f"Classifier: {name} must be an integer, not {val!r}")
                if not -2**31 <= val < 2**31:
                    raise ValueError(f"Classifier: {name} {val} is out of range")
                setattr(opts, name, val)
        if largest_only is not None:
            opts.largest_only = 1 if largest_only else 0
        if scale_factor is not None:
            opts.scale_factor = float(scale_factor)
        err = _Error()
        h = ctypes.c_void_p()
        rc = self._lib.fer_classifier_open(ctypes.byref(h),
                                           None if model is None else _fs(model),
                                           ctypes.byref(opts), ctypes.byref(err))
        if rc < 0:
            msg = err.msg.decode("utf-8", "replace")
            if rc == -_errno.EINVAL and msg.split(" ", 1)[0] in _OPTIONS:
                raise ValueError(f"Classifier: {msg}")
            raise ModelError(msg, rc)
        self._h = h.value
        n = self._lib.fer_classifier_nclasses(self._h)
        #: The model's class names, in the order of every scores dict.
        self.classes: Tuple[str, ...] = tuple(
            self._lib.fer_classifier_class_name(self._h, i).decode() for i in range(n))
        #: The model file in use, and its architecture's name.
        self.model_path: str = os.fsdecode(self._lib.fer_classifier_model_path(self._h))
        self.model_name: str = self._lib.fer_classifier_model_name(self._h).decode()

    # ---- life cycle ----

    def close(self) -> None:
        """Frees the model: later calls are refused at once, calls already running in
        other threads finish first. Idempotent; the object is unusable afterwards."""
        cv = getattr(self, "_cv", None)
        if cv is None:
            return
        with cv:
            self._closing = True  # refuse new calls, so the wait below ends
            while self._busy:
                cv.wait()
            if self._h is not None:
                self._lib.fer_classifier_close(self._h)
                self._h = None

    @contextlib.contextmanager
    def _handle(self) -> Iterator[int]:
        """The library handle for one call; ClassifierError once closed."""
        with self._cv:
            if self._h is None or self._closing:
                raise ClassifierError("Classifier is closed")
            self._busy += 1
            h = self._h
        try:
            yield h
        finally:
            with self._cv:
                self._busy -= 1
                self._cv.notify_all()

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<ferd.Classifier {self.model_name} ({self.model_path}), " \
               f"{len(self.classes)} classes>"

    # ---- classification ----

    def classify(self, image: ImageInput, boxes: Optional[Sequence[BoxInput]] = None, *,
                 pixels: str = "bgr") -> Result:
        """The faces of one image, largest first, each with its box, label, prob and
        scores (every class). image is a file path (str or PathLike), the bytes of an
        encoded image (PNG, JPEG, BMP, PNM, WebP), or a numpy uint8 array: HxW grey,
        HxWx1, HxWx3 in the order pixels names ("bgr", OpenCV's, or "rgb", PIL's), or
        HxWx4 (alpha ignored); any strides. boxes: faces found by your own detector
        (Box or (x, y, w, h)), classified in that order with no search. Raises
        ImageError for an image that cannot be read or used, or a bad box."""
        cboxes, nboxes = self._boxes(boxes)
        res = _Result()
        err = _Error()
        path: Optional[str] = None
        keep: Any = None
        lib = self._lib
        with self._handle() as h:
            if isinstance(image, (str, os.PathLike)):
                path = os.fsdecode(image)
                rc = lib.fer_classifier_classify_file(h, _fs(image), cboxes, nboxes,
                                                      ctypes.byref(res), ctypes.byref(err))
            elif isinstance(image, (bytes, bytearray, memoryview)):
                data = bytes(image)
                rc = lib.fer_classifier_classify_encoded(h, data, len(data), cboxes, nboxes,
                                                         ctypes.byref(res), ctypes.byref(err))
            elif hasattr(image, "__array_interface__"):
                cimg, keep = _array_image(image, pixels)
                rc = lib.fer_classifier_classify(h, ctypes.byref(cimg), cboxes, nboxes,
                                                 ctypes.byref(res), ctypes.byref(err))
            else:
                raise TypeError(f"classify: image must be a path, bytes or a numpy array, "
                                f"not {type(image).__name__}")
        del keep
        if rc < 0:
            raise ImageError(err.msg.decode("utf-8", "replace"), rc)
        return self._result(res, path)

    def result_json(self, result: Result, *, scores: bool = True) -> str:
        """result as the one-line JSON RESULT object `fer classify` prints (with
        "path" when it came from a file), from the library's encoder."""
        res = self._to_c(result)
        path = None if result.path is None else _fs(result.path)
        flags = 0 if scores else 1
        size = 4096
        with self._handle() as h:
            while True:
                buf = ctypes.create_string_buffer(size)
                n = self._lib.fer_classifier_result_json(h, ctypes.byref(res), path, flags, buf,
                                                         size)
                if n < 0:
                    raise ClassifierError(f"result_json: {self._strerror(n)}", n)
                if n < size:
                    return buf.value.decode("utf-8", "replace")
                size = n + 1

    # ---- internals ----

    def _strerror(self, code: int) -> str:
        return str(self._lib.fer_classifier_strerror(code).decode("utf-8", "replace"))

    @staticmethod
    def _boxes(boxes: Optional[Sequence[BoxInput]]) -> Tuple[Any, int]:
        if boxes is None:
            return None, 0
        bs = list(boxes)
        if len(bs) > MAX_FACES:
            raise ImageError(f"classify: {len(bs)} boxes given, at most {MAX_FACES}",
                             -_errno.EINVAL)
        arr = (_Box * max(1, len(bs)))()
        for i, b in enumerate(bs):
            t = b.as_tuple() if isinstance(b, Box) else tuple(b)
            if len(t) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) and
                                      -2**31 <= v < 2**31 for v in t):
                raise ImageError(f"classify: box {i} is not four integers (x, y, w, h): {b!r}",
                                 -_errno.EINVAL)
            arr[i] = _Box(*t)
        return arr, len(bs)

    def _result(self, r: _Result, path: Optional[str]) -> Result:
        names = self.classes
        k = r.nclasses
        faces = []
        for i in range(r.nfaces):
            f = r.faces[i]
            scores = {names[c]: float(f.scores[c]) for c in range(k)}
            faces.append(Face(id=f.id, box=Box(f.box.x, f.box.y, f.box.w, f.box.h),
                              label=names[f.label], prob=float(f.prob),
                              smoothed=Smoothed(names[f.smoothed_label],
                                                float(f.smoothed_prob)),
                              scores=scores, new=bool(f.is_new)))
        return Result(seq=r.seq, time=time_from_ms(r.wall_ms), width=r.width, height=r.height,
                      faces=faces, timing=Timing(r.detect_ms, r.classify_ms, r.total_ms),
                      mono_ns=r.mono_ns, path=path)

    def _to_c(self, result: Result) -> _Result:
        """A Result back into the library's struct (for its JSON encoder)."""
        index = {n: i for i, n in enumerate(self.classes)}
        r = _Result()
        r.seq = result.seq
        r.wall_ms = int(round(result.time.timestamp() * 1000))
        r.mono_ns = result.mono_ns or 0
        r.width, r.height = result.width, result.height
        r.detect_ms = result.timing.detect_ms or 0.0
        r.classify_ms = result.timing.classify_ms or 0.0
        r.total_ms = result.timing.total_ms or 0.0
        r.nclasses = len(self.classes)
        if len(result.faces) > MAX_FACES:
            raise ValueError(f"result_json: {len(result.faces)} faces, at most {MAX_FACES}")
        r.nfaces = len(result.faces)
        for i, f in enumerate(result.faces):
            c = r.faces[i]
            c.id = f.id
            c.box = _Box(f.box.x, f.box.y, f.box.w, f.box.h)
            try:
                c.label = index[f.label]
                c.smoothed_label = index[f.smoothed.label]
                for name, v in (f.scores or {}).items():
                    c.scores[index[name]] = v
            except KeyError as e:
                raise ValueError(f"result_json: class {e} is not one of this model's") from None
            c.prob = f.prob
            c.smoothed_prob = f.smoothed.prob
            c.is_new = 1 if f.new else 0
        return r


def _array_image(a: Any, pixels: str) -> Tuple[_Image, Any]:
    """A numpy array as the library's raw image; the second value keeps the memory
    alive for the call. Copies only when the pixels are not rows of packed bytes."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is what made the array
        raise ImageError("classify: numpy arrays need numpy", -_errno.EINVAL) from None
    fmt = PIXELS.get(pixels.lower()) if isinstance(pixels, str) else None
    if fmt is None:
        raise ValueError(f"classify: pixels must be 'bgr', 'rgb' or 'grey', not {pixels!r}")
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ImageError(f"classify: an image array must be uint8, not {a.dtype} (scale and "
                         f"convert it: (a * 255).astype(numpy.uint8) for floats in [0, 1])",
                         -_errno.EINVAL)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim == 2:
        fmt = 1
        ch = 1
    elif a.ndim == 3 and a.shape[2] == 3:
        ch = 3
        if fmt == 1:
            raise ImageError("classify: pixels='grey' but the array has 3 channels",
                             -_errno.EINVAL)
    else:
        raise ImageError(f"classify: an image array must be HxW or HxWx(1, 3 or 4), not "
                         f"shape {a.shape}", -_errno.EINVAL)
    h, w = a.shape[0], a.shape[1]
    if h < 1 or w < 1:
        raise ImageError(f"classify: empty image (shape {a.shape})", -_errno.EINVAL)
    # Rows may be any distance apart (positive), but within a row the pixels must be
    # packed bytes; anything else (a flipped or column-sliced view) is copied.
    packed_row = a.strides[1] == ch and (ch == 1 or a.strides[2] == 1)
    if not packed_row or a.strides[0] < w * ch:
        a = np.ascontiguousarray(a)
    img = _Image(a.ctypes.data, w, h, a.strides[0], fmt)
    return img, a


def library_version(library: Optional[str] = None) -> str:
    """The release of the libferclassify in use."""
    return str(load_library(library).fer_classifier_version().decode())


__all__ = ["Classifier", "set_threads", "library_version", "load_library"]
