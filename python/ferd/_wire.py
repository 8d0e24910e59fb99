"""ferd._wire — protocol v1 without I/O: where the socket is, line framing with
the daemon's announced limit, the greeting check, request encoding with the
protocol's ranges, and decoding of each object into its typed class.

The synchronous and the asyncio client both use this module, so the two speak
exactly the same protocol and differ only in how they wait.
"""

import collections
import errno
import json
import math
import os
from typing import Any, Dict, Optional, Tuple, Type, TypeVar, Union

from .errors import (FerdError, NotRunningError, PermissionDeniedError, ProtocolError,
                     RefusedError, VersionMismatchError)
from .results import (FaceEvent, Json, Message, Reload, Result, Status, Version,
                      WatchSettings)

PROTO_MAJOR = 1
PROTO_MINOR = 0
DEFAULT_SOCKET = "/run/ferd/ferd.sock"
SOCKET_ENV = "FERD_SOCKET"
#: Longest line before the greeting, and the most any daemon may make us buffer.
GREETING_MAX = 64 * 1024
HARD_MAX = 64 * 1024 * 1024
#: Stream messages kept unread (while a request waits, or until the caller reads
#: them): at most this many and this many bytes; the oldest are dropped first.
PENDING_MAX = 1024
PENDING_BYTES = 16 * 1024 * 1024
#: Answers a request can get: its own class, or ERROR.
ANSWERS = ("WATCH", "POLL", "STATUS", "RELOAD")

def socket_path(path: Union[str, "os.PathLike[str]", None]) -> str:
    """The socket a client uses: path when given and not empty, else $FERD_SOCKET
    when set and not empty, else /run/ferd/ferd.sock (as libferclient)."""
    if path is not None:
        p = os.fspath(path)
        if p:
            return p
    env = os.environ.get(SOCKET_ENV, "")
    return env if env else DEFAULT_SOCKET


def connect_error(e: OSError, path: str) -> FerdError:
    """The exception for a failed connect(2) to path."""
    if e.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR):
        return NotRunningError(path)
    if e.errno in (errno.EACCES, errno.EPERM):
        return PermissionDeniedError(path)
    return FerdError(f"cannot connect to ferd at {path}: {e.strerror or e}")


class LineBuffer:
    """Bytes in, complete lines out, none longer than max_line (newline included).

    A line longer than that is a protocol violation that ends the session (the
    stream cannot be resynchronised), as libferclient does."""

    def __init__(self, max_line: int = GREETING_MAX):
        self.buf = bytearray()
        self.scanned = 0  # buf[:scanned] holds no newline
        self.max_line = max_line

    def feed(self, data: bytes) -> None:
        self.buf += data

    def pop(self) -> Optional[bytes]:
        """The next complete line without its newline, or None."""
        i = self.buf.find(b"\n", self.scanned)
        if i < 0:
            self.scanned = len(self.buf)
            if len(self.buf) >= self.max_line:
                raise ProtocolError(f"a line longer than the daemon's limit of "
                                    f"{self.max_line} bytes")
            return None
        if i + 1 > self.max_line:
            raise ProtocolError(f"a line of {i + 1} bytes, over the daemon's limit of "
                                f"{self.max_line}")
        line = bytes(self.buf[:i])
        del self.buf[:i + 1]
        self.scanned = 0
        return line

    def has_line(self) -> bool:
        return self.buf.find(b"\n", self.scanned) >= 0


T = TypeVar("T")


def expect(msg: Any, cls: Type[T], what: str) -> T:
    """msg, checked to be the answer class a request expects."""
    if not isinstance(msg, cls):
        raise ProtocolError(f"{what}: answered with {type(msg).__name__}")
    return msg


def _text(o: Json, key: str, default: str) -> str:
    v = o.get(key)
    return v if isinstance(v, str) else default


class Pending:
    """Stream messages held for a reader, bounded in count and bytes (a daemon's
    lines may carry 4 MiB pictures): when full, the oldest go and are counted in
    dropped."""

    def __init__(self) -> None:
        self.items: "collections.deque[Tuple[Any, int]]" = collections.deque()
        self.bytes = 0
        self.dropped = 0

    def push(self, item: Any, size: int) -> None:
        while self.items and (len(self.items) >= PENDING_MAX or
                              self.bytes + size > PENDING_BYTES):
            self.bytes -= self.items.popleft()[1]
            self.dropped += 1
        self.items.append((item, size))
        self.bytes += size

    def pop(self) -> Any:
        item, size = self.items.popleft()
        self.bytes -= size
        return item

    def clear(self) -> None:
        self.items.clear()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self.items)


class ErrorMsg:
    """An ERROR object."""

    def __init__(self, o: Json):
        self.code = _text(o, "code", "unknown")
        self.message = _text(o, "message", "")
        self.request: Optional[str] = o["request"] if isinstance(o.get("request"), str) \
            else None
        self.raw = o

    def exception(self) -> RefusedError:
        return RefusedError(self.code, self.message, self.request)


class Poll:
    """A POLL answer: its result."""

    def __init__(self, o: Json):
        r = o.get("result")
        if not isinstance(r, dict):
            raise ProtocolError('POLL: "result" missing or not an object')
        self.result = Result.from_json(r, "POLL.result")
        self.raw = o


def parse(line: bytes) -> Json:
    """One line as a JSON object with a string "class"."""
    try:
        o = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"not valid JSON: {line[:120]!r}") from None
    if not isinstance(o, dict) or not isinstance(o.get("class"), str):
        raise ProtocolError(f"not a JSON object with a \"class\": {line[:120]!r}")
    return o


def decode(o: Json) -> Any:
    """The typed object for a parsed message; Message for classes this version does
    not know (and for SHUTDOWN)."""
    cls = o["class"]
    if cls == "RESULT":
        return Result.from_json(o)
    if cls == "FACE":
        return FaceEvent.from_json(o)
    if cls == "STATUS":
        return Status.from_json(o)
    if cls == "WATCH":
        return WatchSettings.from_json(o)
    if cls == "POLL":
        return Poll(o)
    if cls == "RELOAD":
        return Reload.from_json(o)
    if cls == "ERROR":
        return ErrorMsg(o)
    if cls == "VERSION":
        return Version.from_json(o)
    return Message(cls, o)


def greeting(line: bytes, path: str) -> Version:
    """Checks the first line a daemon sends; the Version, or the exception that says
    why this is not a ferd this package can talk to."""
    try:
        o = parse(line)
    except ProtocolError as e:
        raise ProtocolError(f"{path}: not a ferd greeting ({e})") from None
    if o["class"] == "ERROR":
        err = ErrorMsg(o)
        raise RefusedError(err.code, f"ferd at {path} refused the connection: {err.message}",
                           None)
    if o["class"] != "VERSION":
        raise ProtocolError(f"{path}: first object is {o['class']}, not VERSION: not ferd?")
    v = Version.from_json(o)
    if v.proto_major != PROTO_MAJOR:
        raise VersionMismatchError(
            f"ferd at {path} speaks protocol {v.proto_major}.{v.proto_minor} (release "
            f"{v.release}), this client speaks {PROTO_MAJOR}.{PROTO_MINOR}: install matching "
            f"versions of ferd and its clients", v.proto_major, v.proto_minor)
    return v


def max_line(v: Version) -> int:
    """The longest line to accept from a daemon that announced v."""
    m = v.max_response if v.max_response > 0 else 4 * 1024 * 1024
    return max(1024, min(m, HARD_MAX))


def encode(req: Dict[str, Any], v: Optional[Version]) -> bytes:
    """A request as one line, checked against the daemon's max_request."""
    line = json.dumps(req, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    limit = v.max_request if v is not None and v.max_request > 0 else 4096
    if len(line) > limit:
        raise ValueError(f"request of {len(line)} bytes exceeds the daemon's limit of {limit}")
    return line


def _image_kind(image: Union[str, bool, None], what: str) -> str:
    if image is None or image is False:
        return "none"
    if image is True:
        return "jpeg"
    if image in ("none", "jpeg", "annotated"):
        return str(image)
    raise ValueError(f"{what}: image must be 'none', 'jpeg', 'annotated' or a boolean, "
                     f"not {image!r}")


def watch_request(enable: bool = True, events: bool = False, min_prob: float = 0.0,
                  max_fps: float = 0.0, scores: bool = True,
                  image: Union[str, bool, None] = "none") -> Dict[str, Any]:
    """The WATCH request, with the protocol's ranges checked here (ValueError)."""
    if not isinstance(max_fps, (int, float)) or isinstance(max_fps, bool) or \
            not math.isfinite(max_fps) or not 0 <= max_fps <= 1000:
        raise ValueError(f"watch: max_fps must be a number in [0, 1000], not {max_fps!r}")
    if not isinstance(min_prob, (int, float)) or isinstance(min_prob, bool) or \
            not math.isfinite(min_prob) or not 0 <= min_prob <= 1:
        raise ValueError(f"watch: min_prob must be a number in [0, 1], not {min_prob!r}")
    if 0 < max_fps < 0.001:
        max_fps = 0.001  # never round a positive rate down to 0 ("every frame")
    return {"class": "WATCH", "enable": bool(enable), "max_fps": max_fps,
            "min_prob": min_prob, "events": bool(events), "scores": bool(scores),
            "image": _image_kind(image, "watch")}


def poll_request(image: Union[str, bool, None] = "none", scores: bool = True) -> Dict[str, Any]:
    return {"class": "POLL", "image": _image_kind(image, "snapshot"), "scores": bool(scores)}


def is_answer(o: Json, want: str) -> bool:
    return o["class"] in (want, "ERROR")


def is_stream(o: Json) -> bool:
    """Messages that arrive unrequested: RESULT, FACE and any class a newer daemon
    adds (which a client ignores unless it asks for them)."""
    return o["class"] not in ANSWERS + ("ERROR", "VERSION", "SHUTDOWN")
