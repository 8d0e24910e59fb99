"""ferd.client — the synchronous client of ferd (protocol v1, proto/PROTOCOL.md).

Design. One blocking Unix socket; every wait has a deadline (the client's
timeout for connecting and for answers, the caller's for stream messages), so
a stuck or hostile daemon costs a timeout, never a hang. Lines are framed by
_wire.LineBuffer against the line limit the daemon announced, and decoded by
the same code the asyncio client uses. A request reads until its answer; the
RESULT and FACE messages that arrive meanwhile while watching are kept (at
most PENDING_MAX of them and PENDING_BYTES, the oldest dropped and counted in
``dropped``) for the watch iterator instead of being lost. Objects of classes this version does not know
are skipped, as the protocol asks.

A Client is not thread-safe: use one per thread (connections are cheap).
"""

import os
import socket
import time
from typing import Any, Dict, Iterator, Optional, Tuple, Union

from . import _wire
from .errors import ConnectionLostError, FerdError, FerdTimeoutError
from .results import FaceEvent, Json, Message, Reload, Result, Status, Version, WatchSettings

PathArg = Union[str, "os.PathLike[str]", None]
ImageArg = Union[str, bool, None]

#: Seconds a POLL or RELOAD may take by default: the daemon may open the camera
#: first (POLL) or load a large model (RELOAD).
SLOW_TIMEOUT = 30.0


class Client:
    """A connection to ferd.

    >>> with ferd.Client() as c:          # $FERD_SOCKET, else /run/ferd/ferd.sock
    ...     print(c.status())
    ...     for r in c.watch(max_fps=2):
    ...         print([(f.id, f.smoothed.label) for f in r.faces])

    Connecting reads the daemon's VERSION greeting and checks its major protocol
    version. Raises NotRunningError (nobody listens: the message names the socket
    and `systemctl start ferd`), PermissionDeniedError, FerdTimeoutError,
    VersionMismatchError, ProtocolError (not ferd), RefusedError (too many
    clients). timeout (seconds, None: forever) bounds connecting and each request.
    """

    def __init__(self, socket_path: PathArg = None, *, timeout: Optional[float] = 5.0):
        self.path = _wire.socket_path(socket_path)
        self.timeout = timeout
        #: The message of the daemon's SHUTDOWN object, "" if it sent none.
        self.shutdown_message = ""
        self._buf = _wire.LineBuffer(_wire.GREETING_MAX)
        self._pending = _wire.Pending()
        self._watching = False
        #: The raw JSON line of the last answer (what `ferctl --json` prints).
        self.last_line = ""
        self._sock: Optional[socket.socket] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            try:
                self._sock.connect(self.path)
            except socket.timeout:
                raise FerdTimeoutError(f"ferd at {self.path} did not accept the connection "
                                       f"within {timeout} s; is it stuck?") from None
            except OSError as e:
                raise _wire.connect_error(e, self.path) from None
            line = self._read_line(self._deadline(timeout), "greeting")
            self.version: Version = _wire.greeting(line, self.path)
            #: The VERSION line as the daemon sent it.
            self.greeting_line = line.decode("utf-8", errors="replace")
            self._buf.max_line = _wire.max_line(self.version)
        except BaseException:
            self.close()
            raise

    # ---- life cycle ----

    def close(self) -> None:
        """Closes the connection (the daemon ends the subscription). Idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def fileno(self) -> int:
        """The socket's descriptor, for select()/poll(); do not read or write it."""
        return self._live().fileno()

    def __repr__(self) -> str:
        state = "closed" if self._sock is None else "watching" if self._watching else "open"
        return f"<ferd.Client {self.path} {state}>"

    # ---- requests ----

    def status(self, *, timeout: Optional[float] = None) -> Status:
        """The daemon's state (STATUS); str() of it is what `ferctl status` prints."""
        return _wire.expect(self._call({"class": "STATUS"}, "STATUS", timeout), Status, "STATUS")

    def snapshot(self, *, image: ImageArg = "none", scores: bool = True,
                 timeout: Optional[float] = None) -> Result:
        """The latest result now (POLL). image "jpeg" or "annotated" attaches the frame
        (result.image.data holds JPEG bytes; the daemon must allow images for this
        user, else RefusedError "forbidden"). RefusedError "unavailable" when no
        frame came in time."""
        req = _wire.poll_request(image, scores)
        msg = self._call(req, "POLL", SLOW_TIMEOUT if timeout is None else timeout)
        return _wire.expect(msg, _wire.Poll, "POLL").result

    def reload(self, *, timeout: Optional[float] = None) -> Reload:
        """Makes the daemon re-read its configuration and model (RELOAD; privileged).
        A model that fails to load raises RefusedError "reload_failed" and the old
        one keeps serving."""
        msg = self._call({"class": "RELOAD"}, "RELOAD",
                         SLOW_TIMEOUT if timeout is None else timeout)
        return _wire.expect(msg, Reload, "RELOAD")

    def watch(self, *, events: bool = False, min_prob: float = 0.0, max_fps: float = 0.0,
              scores: bool = True, image: ImageArg = "none",
              timeout: Optional[float] = None) -> "Watch":
        """Subscribes (WATCH) and returns an iterator over what arrives: Result per
        processed frame, or FaceEvent (events=True: a face appeared, its label
        changed, it left). min_prob leaves out faces below it; max_fps caps the rate
        (0: every frame); scores=False leaves out the per-class scores; image attaches
        frames as in snapshot(). Values out of the protocol's ranges raise ValueError
        before anything is sent; a refusal raises RefusedError here. timeout bounds
        each wait for the next message (None: wait as long as it takes). The
        subscription lasts until unwatch(), close(), or the iterator's close()."""
        req = _wire.watch_request(True, events, min_prob, max_fps, scores, image)
        self._pending.clear()
        settings = _wire.expect(self._call(req, "WATCH", None), WatchSettings, "WATCH")
        self._watching = True
        return Watch(self, settings, timeout)

    def unwatch(self, *, timeout: Optional[float] = None) -> None:
        """Ends the subscription (WATCH enable=false) and forgets unread messages."""
        self._watching = False
        self._pending.clear()
        self._call(_wire.watch_request(enable=False), "WATCH", timeout)

    def request(self, req: Dict[str, Any], *, timeout: Optional[float] = None) -> Any:
        """Sends any request object (a dict with "class") and returns the decoded
        answer: for requests a newer daemon knows and this package does not."""
        cls = req.get("class")
        if not isinstance(cls, str):
            raise ValueError('request: "class" must be a string')
        return self._call(req, cls, timeout)

    # ---- internals ----

    def _live(self) -> socket.socket:
        if self._sock is None:
            raise FerdError(f"ferd client for {self.path} is closed")
        return self._sock

    @staticmethod
    def _deadline(timeout: Optional[float]) -> Optional[float]:
        return None if timeout is None else time.monotonic() + timeout

    def _read_line(self, deadline: Optional[float], what: str) -> bytes:
        """The next line; FerdTimeoutError past deadline, ConnectionLostError at EOF."""
        sock = self._live()
        while True:
            line = self._buf.pop()
            if line is not None:
                return line
            if deadline is None:
                sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FerdTimeoutError(f"ferd at {self.path}: no {what} in time")
                sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                raise FerdTimeoutError(f"ferd at {self.path}: no {what} in time") from None
            except ConnectionResetError:
                data = b""
            if not data:
                why = f" ({self.shutdown_message})" if self.shutdown_message else ""
                raise ConnectionLostError(f"ferd at {self.path} closed the connection{why}",
                                          self.shutdown_message)
            self._buf.feed(data)

    def _read(self, deadline: Optional[float], what: str) -> Tuple[bytes, Json]:
        """The next object (a SHUTDOWN is remembered and passed on)."""
        line = self._read_line(deadline, what)
        o = _wire.parse(line)
        if o["class"] == "SHUTDOWN" and isinstance(o.get("message"), str):
            self.shutdown_message = o["message"]
        return line, o

    def _keep(self, line: bytes, o: Json) -> None:
        if self._watching:
            self._pending.push((line, o), len(line))

    @property
    def dropped(self) -> int:
        """Stream messages dropped because they were not read in time while requests
        ran (see the module's notes)."""
        return self._pending.dropped

    def _call(self, req: Dict[str, Any], want: str, timeout: Optional[float]) -> Any:
        data = _wire.encode(req, self.version if hasattr(self, "version") else None)
        t = self.timeout if timeout is None else timeout
        deadline = self._deadline(t)
        sock = self._live()
        sock.settimeout(t)
        try:
            sock.sendall(data)
        except socket.timeout:
            raise FerdTimeoutError(f"ferd at {self.path}: could not send {want} in time") \
                from None
        except (BrokenPipeError, ConnectionResetError):
            raise ConnectionLostError(f"ferd at {self.path} closed the connection",
                                      self.shutdown_message) from None
        while True:
            line, o = self._read(deadline, f"answer to {want}")
            if _wire.is_answer(o, want):
                self.last_line = line.decode("utf-8", errors="replace")
                msg = _wire.decode(o)
                if isinstance(msg, _wire.ErrorMsg):
                    raise msg.exception()
                return msg
            if _wire.is_stream(o):
                self._keep(line, o)

    def _next_stream(self, timeout: Optional[float]) -> Tuple[bytes, Json]:
        """The next stream message (any class but answers): kept ones first."""
        if self._pending:
            line, o = self._pending.pop()
            return bytes(line), dict(o)
        deadline = self._deadline(timeout)
        while True:
            line, o = self._read(deadline, "message")
            if _wire.is_stream(o):
                return line, o


class Watch:
    """The iterator watch() returns: Result or FaceEvent objects, in order.

    settings is the daemon's acknowledgement (its caps applied). lines() gives
    the same messages as the JSON lines the daemon sent (what `ferctl watch
    --json` prints), messages of unknown classes included. Iteration ends with
    ConnectionLostError when the daemon stops (shutdown_message says why)."""

    def __init__(self, client: Client, settings: WatchSettings, timeout: Optional[float]):
        self.client = client
        self.settings = settings
        self.timeout = timeout

    def __iter__(self) -> "Watch":
        return self

    def __next__(self) -> Union[Result, FaceEvent]:
        while True:
            if not self.client._watching:
                raise StopIteration
            _, o = self.client._next_stream(self.timeout)
            msg = _wire.decode(o)
            if isinstance(msg, (Result, FaceEvent)):
                return msg
            # A class this version does not know: ignored, as the protocol asks.

    def lines(self) -> Iterator[str]:
        """Each stream message as its raw JSON line (no newline)."""
        while self.client._watching:
            line, _ = self.client._next_stream(self.timeout)
            yield line.decode("utf-8", errors="replace")

    def messages(self) -> Iterator[Union[Result, FaceEvent, Message]]:
        """Like iterating, but objects of unknown classes come as Message."""
        while self.client._watching:
            _, o = self.client._next_stream(self.timeout)
            yield _wire.decode(o)

    def close(self) -> None:
        """Unsubscribes (if the connection is still up)."""
        if self.client._watching and self.client._sock is not None:
            try:
                self.client.unwatch()
            except FerdError:
                pass

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
