"""ferd.results — the typed objects of protocol v1 (proto/PROTOCOL.md) and of
in-process classification: dataclasses built from the daemon's JSON objects.

Decoding follows the protocol's rules: unknown keys are ignored (each object
keeps the whole decoded JSON in ``raw`` for members a newer daemon adds),
absent optional members become None, and a known member of the wrong type is
a ProtocolError naming it. Class names are never assumed: a face's scores are
a dict in the model's class order, however many classes the model has.
"""

import base64
import binascii
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

from .errors import ProtocolError

Json = Dict[str, Any]
T = TypeVar("T")


# ---- checked access to decoded JSON ------------------------------------------------

def _typename(types: Tuple[Type[Any], ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean",
             dict: "an object", list: "an array"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _get(o: Json, key: str, types: Tuple[Type[Any], ...], where: str,
         required: bool = True) -> Any:
    """o[key] checked against types (a JSON integer is also a number; a boolean is
    never a number). Absent: None, or a ProtocolError when required."""
    if key not in o:
        if required:
            raise ProtocolError(f'{where}: "{key}" missing')
        return None
    v = o[key]
    ok = False
    for t in types:
        if t is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        elif t is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, t)
        if ok:
            break
    if not ok:
        raise ProtocolError(f'{where}: "{key}" is not {_typename(types)}')
    if float in types and not isinstance(v, bool) and isinstance(v, int) and int not in types:
        return float(v)
    return v


def _onum(o: Json, key: str, where: str) -> Optional[float]:
    v = _get(o, key, (float,), where, False)
    return None if v is None else float(v)


def _num(o: Json, key: str, where: str) -> float:
    return float(_get(o, key, (float,), where))


def _oint(o: Json, key: str, where: str) -> Optional[int]:
    v = _get(o, key, (int, float), where, False)
    if v is None:
        return None
    if isinstance(v, float):
        if not v.is_integer():
            raise ProtocolError(f'{where}: "{key}" is not an integer')
        v = int(v)
    return int(v)


def _int(o: Json, key: str, where: str) -> int:
    v = _oint(o, key, where)
    if v is None:
        raise ProtocolError(f'{where}: "{key}" missing')
    return v


def _ostr(o: Json, key: str, where: str) -> Optional[str]:
    v = _get(o, key, (str,), where, False)
    return None if v is None else str(v)


def _str(o: Json, key: str, where: str) -> str:
    return str(_get(o, key, (str,), where))


def _bool(o: Json, key: str, where: str, default: bool = False) -> bool:
    v = _get(o, key, (bool,), where, False)
    return default if v is None else bool(v)


def _obj(o: Json, key: str, where: str, required: bool = True) -> Optional[Json]:
    v = _get(o, key, (dict,), where, required)
    return None if v is None else dict(v)


def parse_time(s: str, where: str = "time") -> _dt.datetime:
    """RFC 3339 ("2026-11-28T10:00:00.123Z") to an aware datetime."""
    try:
        t = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
        d = _dt.datetime.fromisoformat(t.replace("t", "T", 1))
    except ValueError:
        raise ProtocolError(f'{where}: "{s}" is not an RFC 3339 time') from None
    if d.tzinfo is None:
        raise ProtocolError(f'{where}: "{s}" has no time zone')
    return d


def time_from_ms(wall_ms: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(wall_ms / 1000.0, tz=_dt.timezone.utc)


# ---- faces and frames -------------------------------------------------------------

@dataclass
class Box:
    """A face's box in frame pixels, origin top-left."""
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_json(cls, o: Any, where: str) -> "Box":
        if not isinstance(o, dict):
            raise ProtocolError(f'{where}: "box" is not an object')
        w = where + ".box"
        return cls(_int(o, "x", w), _int(o, "y", w), _int(o, "w", w), _int(o, "h", w))

    def as_tuple(self) -> Tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


@dataclass
class Smoothed:
    """A track's moving average: its most probable class and that probability."""
    label: str
    prob: float


@dataclass
class Face:
    """One face of a frame.

    label and prob are this frame's most probable class; smoothed is the track's
    moving average (what ferctl shows; for still images it equals label/prob).
    scores maps every class name to its probability in the model's order, or is
    None when they were not asked for. new is True on a track's first frame;
    changed_from names the previous smoothed label when it just changed."""
    id: int
    box: Box
    label: str
    prob: float
    smoothed: Smoothed
    scores: Optional[Dict[str, float]] = None
    new: bool = False
    changed_from: Optional[str] = None

    @classmethod
    def from_json(cls, o: Any, where: str) -> "Face":
        if not isinstance(o, dict):
            raise ProtocolError(f"{where} is not an object")
        label = _str(o, "label", where)
        prob = _num(o, "prob", where)
        scores = None
        sc = _obj(o, "scores", where, required=False)
        if sc is not None:
            scores = {}
            for k, v in sc.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ProtocolError(f'{where}.scores: "{k}" is not a number')
                scores[k] = float(v)
        sm = _obj(o, "smoothed", where, required=False)
        if sm is None:
            smoothed = Smoothed(label, prob)
        else:
            smoothed = Smoothed(_str(sm, "label", where + ".smoothed"),
                                _num(sm, "prob", where + ".smoothed"))
        return cls(id=_int(o, "id", where), box=Box.from_json(o.get("box"), where),
                   label=label, prob=prob, smoothed=smoothed, scores=scores,
                   new=_bool(o, "new", where),
                   changed_from=_ostr(o, "changed_from", where))


@dataclass
class Timing:
    """Where a frame's processing time went, milliseconds."""
    detect_ms: Optional[float] = None
    classify_ms: Optional[float] = None
    total_ms: Optional[float] = None


@dataclass
class Image:
    """A frame attached to a RESULT: JPEG bytes (kind "jpeg", or "annotated" with
    boxes and labels drawn)."""
    kind: str
    width: int
    height: int
    data: bytes = field(repr=False)

    @classmethod
    def from_json(cls, o: Any, where: str) -> "Image":
        if not isinstance(o, dict):
            raise ProtocolError(f'{where}: "image" is not an object')
        w = where + ".image"
        try:
            data = base64.b64decode(_str(o, "data", w), validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolError(f'{w}: "data" is not base64') from None
        return cls(_str(o, "kind", w), _int(o, "width", w), _int(o, "height", w), data)


@dataclass
class Result:
    """One processed frame (a RESULT object, the answer to a POLL, or one image
    classified in process). faces are largest first unless boxes were given;
    ended lists the ids of tracks that ended with this frame. For in-process
    results, path names the file classified (when it was one)."""
    seq: int
    time: _dt.datetime
    width: int
    height: int
    faces: List[Face]
    timing: Timing = field(default_factory=Timing)
    mono_ns: Optional[int] = None
    ended: List[int] = field(default_factory=list)
    ready_ns: Optional[int] = None
    image: Optional[Image] = None
    path: Optional[str] = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def classes(self) -> List[str]:
        """The class names in model order, as far as the faces' scores tell."""
        for f in self.faces:
            if f.scores:
                return list(f.scores)
        return []

    @classmethod
    def from_json(cls, o: Json, where: str = "RESULT") -> "Result":
        if not isinstance(o, dict):
            raise ProtocolError(f"{where} is not an object")
        faces_json = _get(o, "faces", (list,), where)
        faces = [Face.from_json(f, f"{where}.faces[{i}]") for i, f in enumerate(faces_json)]
        ended = _get(o, "ended", (list,), where, required=False) or []
        for e in ended:
            if isinstance(e, bool) or not isinstance(e, int):
                raise ProtocolError(f'{where}: "ended" holds a non-id')
        t = _obj(o, "timing", where, required=False) or {}
        timing = Timing(_onum(t, "detect_ms", where + ".timing"),
                        _onum(t, "classify_ms", where + ".timing"),
                        _onum(t, "total_ms", where + ".timing"))
        img = o.get("image")
        return cls(seq=_int(o, "seq", where),
                   time=parse_time(_str(o, "time", where), where + ".time"),
                   width=_int(o, "width", where), height=_int(o, "height", where),
                   faces=faces, timing=timing, mono_ns=_oint(o, "mono_ns", where),
                   ended=list(ended), ready_ns=_oint(o, "ready_ns", where),
                   image=None if img is None else Image.from_json(img, where),
                   path=_ostr(o, "path", where), raw=o)


@dataclass
class FaceEvent:
    """A track event (a FACE object, to clients watching with events=True):
    event is "appeared", "changed" or "ended" (a newer daemon may add others);
    box, label and prob are absent (None) for "ended"; from_label is the label
    before a "changed"."""
    event: str
    seq: int
    time: _dt.datetime
    id: int
    box: Optional[Box] = None
    label: Optional[str] = None
    prob: Optional[float] = None
    from_label: Optional[str] = None
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, o: Json, where: str = "FACE") -> "FaceEvent":
        box = o.get("box")
        return cls(event=_str(o, "event", where), seq=_int(o, "seq", where),
                   time=parse_time(_str(o, "time", where), where + ".time"),
                   id=_int(o, "id", where),
                   box=None if box is None else Box.from_json(box, where),
                   label=_ostr(o, "label", where), prob=_onum(o, "prob", where),
                   from_label=_ostr(o, "from", where), raw=o)


# ---- the daemon's other objects ----------------------------------------------------

@dataclass
class Version:
    """The daemon's greeting."""
    release: str
    proto_major: int
    proto_minor: int
    max_request: int
    max_response: int
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, o: Json, where: str = "VERSION") -> "Version":
        return cls(release=_ostr(o, "release", where) or "",
                   proto_major=_int(o, "proto_major", where),
                   proto_minor=_oint(o, "proto_minor", where) or 0,
                   max_request=_oint(o, "max_request", where) or 4096,
                   max_response=_oint(o, "max_response", where) or 4 * 1024 * 1024,
                   raw=o)


@dataclass
class WatchSettings:
    """The daemon's acknowledgement of a WATCH: the settings in force, caps applied."""
    enable: bool
    max_fps: float
    min_prob: float
    events: bool
    scores: bool
    image: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, o: Json, where: str = "WATCH") -> "WatchSettings":
        img = _get(o, "image", (str, bool), where, False)
        if isinstance(img, bool):
            img = "jpeg" if img else "none"
        return cls(enable=_bool(o, "enable", where, True),
                   max_fps=_onum(o, "max_fps", where) or 0.0,
                   min_prob=_onum(o, "min_prob", where) or 0.0,
                   events=_bool(o, "events", where), scores=_bool(o, "scores", where, True),
                   image=img or "none", raw=o)


@dataclass
class ModelInfo:
    """The model a daemon serves (STATUS and RELOAD)."""
    name: str
    path: str
    classes: List[str]
    params: Optional[int] = None
    val_acc: Optional[float] = None
    test_acc: Optional[float] = None

    @classmethod
    def from_json(cls, o: Any, where: str) -> "ModelInfo":
        if not isinstance(o, dict):
            raise ProtocolError(f'{where}: "model" is not an object')
        w = where + ".model"
        classes = _get(o, "classes", (list,), w, False) or []
        if not all(isinstance(c, str) for c in classes):
            raise ProtocolError(f'{w}: "classes" holds a non-string')
        return cls(name=_ostr(o, "name", w) or "", path=_ostr(o, "path", w) or "",
                   classes=list(classes), params=_oint(o, "params", w),
                   val_acc=_onum(o, "val_acc", w), test_acc=_onum(o, "test_acc", w))


@dataclass
class SourceStatus:
    """The frame source of a daemon: state is starting, streaming, reconnecting,
    ended, error or idle."""
    name: str
    state: str
    kind: Optional[str] = None
    error: Optional[str] = None
    fps: Optional[float] = None
    width: Optional[int] = None
    height: Optional[int] = None
    reopens: int = 0


@dataclass
class Status:
    """A daemon's STATUS. The sections the protocol defines as objects (clients,
    frames, latency_ms) are kept as dicts, client_list as a list of dicts: their
    members are counters a newer daemon may extend."""
    release: str
    uptime: float
    pid: Optional[int]
    source: SourceStatus
    model: Optional[ModelInfo]
    clients: Dict[str, Any]
    frames: Dict[str, Any]
    latency_ms: Optional[Dict[str, Any]] = None
    client_list: List[Dict[str, Any]] = field(default_factory=list)
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, o: Json, where: str = "STATUS") -> "Status":
        src = _obj(o, "source", where, False) or {}
        w = where + ".source"
        source = SourceStatus(name=_ostr(src, "name", w) or "",
                              state=_ostr(src, "state", w) or "",
                              kind=_ostr(src, "kind", w), error=_ostr(src, "error", w),
                              fps=_onum(src, "fps", w), width=_oint(src, "width", w),
                              height=_oint(src, "height", w),
                              reopens=_oint(src, "reopens", w) or 0)
        model = o.get("model")
        cl = _get(o, "client_list", (list,), where, False) or []
        return cls(release=_ostr(o, "release", where) or "",
                   uptime=_onum(o, "uptime", where) or 0.0,
                   pid=_oint(o, "pid", where), source=source,
                   model=None if model is None else ModelInfo.from_json(model, where),
                   clients=_obj(o, "clients", where, False) or {},
                   frames=_obj(o, "frames", where, False) or {},
                   latency_ms=_obj(o, "latency_ms", where, False),
                   client_list=[c for c in cl if isinstance(c, dict)], raw=o)

    def __str__(self) -> str:
        """The summary `ferctl status` prints."""
        up = int(self.uptime)
        d, rest = divmod(up, 86400)
        hms = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
        lines = [f"ferd {self.release or '(release unknown)'}"
                 + (f", pid {self.pid}" if self.pid is not None else "")
                 + f", up {f'{d}d ' if d else ''}{hms}"]
        s = self.source
        src = f"source   {s.name or '?'}" + (f" ({s.kind})" if s.kind else "") + f": {s.state}"
        if s.state in ("reconnecting", "error"):
            src += " (waiting for it; ferd retries with back-off)"
        if s.fps is not None:
            src += f", {s.fps:.1f} fps"
        if s.width:
            src += f", {s.width}x{s.height}"
        if s.reopens:
            src += f", reopened {s.reopens} time{'' if s.reopens == 1 else 's'}"
        if s.error:
            src += f"; last error: {s.error}"
        lines.append(src)
        if self.model is not None:
            m = self.model
            ml = f"model    {m.name or '(unnamed)'}" + (f" ({m.path})" if m.path else "")
            ml += f": {len(m.classes)} classes"
            if m.params is not None:
                ml += f", {m.params} parameters"
            if m.val_acc is not None:
                ml += f", validation accuracy {m.val_acc * 100:.1f}%"
            if m.test_acc is not None:
                ml += f", test accuracy {m.test_acc * 100:.1f}%"
            lines.append(ml)
        c = self.clients
        lines.append(f"clients  {c.get('connected', 0)} connected, {c.get('watching', 0)} "
                     f"watching" + (f" (max {c['max']})" if c.get("max") else ""))
        f = self.frames
        lines.append(f"frames   {f.get('captured', 0)} captured, {f.get('processed', 0)} "
                     f"processed, {f.get('dropped', 0)} dropped")
        lat = self.latency_ms
        if lat and "p50" in lat:
            lines.append(f"latency  p50 {lat['p50']:.1f} ms, p99 {lat.get('p99', 0):.1f} ms "
                         f"({lat.get('samples', 0)} samples)")
        else:
            lines.append("latency  no results yet")
        return "\n".join(lines)


@dataclass
class Reload:
    """The answer to RELOAD: the model now serving and the configuration keys that
    changed but need a restart."""
    model: Optional[ModelInfo]
    restart_needed: List[str] = field(default_factory=list)
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, o: Json, where: str = "RELOAD") -> "Reload":
        model = o.get("model")
        rn = _get(o, "restart_needed", (list,), where, False) or []
        return cls(model=None if model is None else ModelInfo.from_json(model, where),
                   restart_needed=[k for k in rn if isinstance(k, str)], raw=o)


@dataclass
class Message:
    """An object of a class this package does not know (a newer daemon's), or a
    SHUTDOWN: cls is its "class", raw the decoded JSON."""
    cls: str
    raw: Json = field(default_factory=dict)


Stream = Union[Result, FaceEvent]
