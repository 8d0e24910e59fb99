"""ferd.aio — the asyncio client of ferd, the twin of ferd.client.Client.

Design. One task reads the connection for the client's whole life and sorts
what arrives: the answer to the request in flight (requests go one at a time,
under a lock, since the protocol answers them in order) resolves its future;
RESULT, FACE and newer stream classes go to a bounded queue for watchers
(bounded like the synchronous client's; the oldest dropped and counted in
``dropped`` when nobody keeps up); a SHUTDOWN is
remembered; end of stream or a broken line fails whatever waits with
ConnectionLostError or ProtocolError. Framing, decoding and the greeting check
are _wire's, shared with the synchronous client.

    async with ferd.AsyncClient() as c:
        print(await c.status())
        async for r in c.watch(max_fps=5):
            ...
"""

import asyncio
import os
from typing import Any, AsyncIterator, Dict, Optional, Tuple, Union

from . import _wire
from .errors import ConnectionLostError, FerdError, FerdTimeoutError, ProtocolError
from .results import FaceEvent, Json, Message, Reload, Result, Status, Version, WatchSettings

PathArg = Union[str, "os.PathLike[str]", None]
ImageArg = Union[str, bool, None]
SLOW_TIMEOUT = 30.0


class AsyncClient:
    """A connection to ferd for asyncio programs. Construct, then ``await open()``
    (or use ``async with``, or ``await AsyncClient.connect(...)``); the methods and
    exceptions are those of ferd.Client, awaited."""

    def __init__(self, socket_path: PathArg = None, *, timeout: Optional[float] = 5.0):
        self.path = _wire.socket_path(socket_path)
        self.timeout = timeout
        self.shutdown_message = ""
        self.version: Optional[Version] = None
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._buf = _wire.LineBuffer(_wire.GREETING_MAX)
        self._task: Optional["asyncio.Task[None]"] = None
        self._lock: Optional[asyncio.Lock] = None
        self._answer: Optional[Tuple[str, "asyncio.Future[Json]"]] = None
        self._pending = _wire.Pending()
        self._wake: Optional[asyncio.Event] = None
        self._watching = False
        self._fatal: Optional[BaseException] = None

    @classmethod
    async def connect(cls, socket_path: PathArg = None, *,
                      timeout: Optional[float] = 5.0) -> "AsyncClient":
        c = cls(socket_path, timeout=timeout)
        await c.open()
        return c

    async def open(self) -> None:
        """Connects and checks the greeting (exceptions as ferd.Client's)."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self.path), self.timeout)
        except asyncio.TimeoutError:
            raise FerdTimeoutError(f"ferd at {self.path} did not accept the connection "
                                   f"within {self.timeout} s; is it stuck?") from None
        except OSError as e:
            raise _wire.connect_error(e, self.path) from None
        try:
            line = await asyncio.wait_for(self._read_line(), self.timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise FerdTimeoutError(f"ferd at {self.path}: no greeting in time") from None
        except BaseException:
            await self.close()
            raise
        try:
            self.version = _wire.greeting(line, self.path)
        except BaseException:
            await self.close()
            raise
        self._buf.max_line = _wire.max_line(self.version)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    async def close(self) -> None:
        """Closes the connection and stops the reading task. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None

    async def __aenter__(self) -> "AsyncClient":
        if self._writer is None:
            await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- requests ----

    async def status(self, *, timeout: Optional[float] = None) -> Status:
        msg = await self._call({"class": "STATUS"}, "STATUS", timeout)
        return _wire.expect(msg, Status, "STATUS")

    async def snapshot(self, *, image: ImageArg = "none", scores: bool = True,
                       timeout: Optional[float] = None) -> Result:
        msg = await self._call(_wire.poll_request(image, scores), "POLL",
                               SLOW_TIMEOUT if timeout is None else timeout)
        return _wire.expect(msg, _wire.Poll, "POLL").result

    async def reload(self, *, timeout: Optional[float] = None) -> Reload:
        msg = await self._call({"class": "RELOAD"}, "RELOAD",
                               SLOW_TIMEOUT if timeout is None else timeout)
        return _wire.expect(msg, Reload, "RELOAD")

    def watch(self, *, events: bool = False, min_prob: float = 0.0, max_fps: float = 0.0,
              scores: bool = True, image: ImageArg = "none",
              timeout: Optional[float] = None) -> "AsyncWatch":
        """``async for r in client.watch(...)``: Result or FaceEvent objects, as
        ferd.Client.watch. Arguments are checked at once (ValueError); the WATCH is
        sent when the iteration starts, or when the returned object is awaited
        (``w = await client.watch(); w.settings``)."""
        req = _wire.watch_request(True, events, min_prob, max_fps, scores, image)
        return AsyncWatch(self, req, timeout)

    async def unwatch(self, *, timeout: Optional[float] = None) -> None:
        self._watching = False
        self._drain_queue()
        await self._call(_wire.watch_request(enable=False), "WATCH", timeout)

    async def request(self, req: Dict[str, Any], *, timeout: Optional[float] = None) -> Any:
        cls = req.get("class")
        if not isinstance(cls, str):
            raise ValueError('request: "class" must be a string')
        return await self._call(req, cls, timeout)

    # ---- internals ----

    async def _read_line(self) -> bytes:
        assert self._reader is not None
        while True:
            line = self._buf.pop()
            if line is not None:
                return line
            try:
                data = await self._reader.read(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                why = f" ({self.shutdown_message})" if self.shutdown_message else ""
                raise ConnectionLostError(f"ferd at {self.path} closed the connection{why}",
                                          self.shutdown_message)
            self._buf.feed(data)

    @property
    def dropped(self) -> int:
        """Stream messages dropped because nobody read them in time."""
        return self._pending.dropped

    def _put(self, item: Any, size: int) -> None:
        self._pending.push(item, size)
        if self._wake is not None:
            self._wake.set()

    def _drain_queue(self) -> None:
        self._pending.clear()

    async def _read_loop(self) -> None:
        try:
            while True:
                line = await self._read_line()
                try:
                    o = _wire.parse(line)
                except ProtocolError as e:
                    # One bad line: whoever waits hears of it; the stream goes on.
                    if self._answer is not None and not self._answer[1].done():
                        self._answer[1].set_exception(e)
                    elif self._watching:
                        self._put(e, len(line))
                    continue
                cls = o["class"]
                if cls == "SHUTDOWN" and isinstance(o.get("message"), str):
                    self.shutdown_message = o["message"]
                if self._answer is not None and _wire.is_answer(o, self._answer[0]):
                    if not self._answer[1].done():
                        self._answer[1].set_result(o)
                elif _wire.is_stream(o) and self._watching:
                    self._put((line, o), len(line))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # end of stream, an over-long line, ...
            self._fatal = e
            if self._answer is not None and not self._answer[1].done():
                self._answer[1].set_exception(e)
            if self._wake is not None:
                self._wake.set()

    def _check_open(self) -> None:
        if self._writer is None or self._lock is None:
            raise FerdError(f"ferd client for {self.path} is not open")
        if self._fatal is not None:
            raise self._fatal

    async def _call(self, req: Dict[str, Any], want: str, timeout: Optional[float]) -> Any:
        self._check_open()
        assert self._lock is not None and self._writer is not None
        data = _wire.encode(req, self.version)
        t = self.timeout if timeout is None else timeout
        async with self._lock:
            fut: "asyncio.Future[Json]" = asyncio.get_running_loop().create_future()
            self._answer = (want, fut)
            try:
                self._writer.write(data)
                try:
                    await asyncio.wait_for(self._writer.drain(), t)
                    o = await asyncio.wait_for(fut, t)
                except asyncio.TimeoutError:
                    raise FerdTimeoutError(f"ferd at {self.path}: no answer to {want} in "
                                           f"time") from None
                except (BrokenPipeError, ConnectionResetError):
                    raise ConnectionLostError(f"ferd at {self.path} closed the connection",
                                              self.shutdown_message) from None
            finally:
                self._answer = None
        msg = _wire.decode(o)
        if isinstance(msg, _wire.ErrorMsg):
            raise msg.exception()
        return msg

    async def _next_stream(self, timeout: Optional[float]) -> Tuple[bytes, Json]:
        """The next held stream message; the connection's end once none is left."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._pending:
            if self._fatal is not None:
                raise self._fatal
            self._wake.clear()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise FerdTimeoutError(f"ferd at {self.path}: no message in time")
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except asyncio.TimeoutError:
                raise FerdTimeoutError(f"ferd at {self.path}: no message in time") from None
        item = self._pending.pop()
        if isinstance(item, BaseException):
            raise item
        line, o = item
        return bytes(line), dict(o)


class AsyncWatch:
    """What AsyncClient.watch() returns: awaitable (subscribes, returns itself with
    settings filled) and an async iterator of Result and FaceEvent objects."""

    def __init__(self, client: AsyncClient, req: Dict[str, Any], timeout: Optional[float]):
        self.client = client
        self.req = req
        self.timeout = timeout
        self.settings: Optional[WatchSettings] = None

    async def _subscribe(self) -> None:
        if self.settings is None:
            self.client._check_open()
            self.client._drain_queue()
            self.client._watching = True
            try:
                msg = await self.client._call(self.req, "WATCH", None)
                self.settings = _wire.expect(msg, WatchSettings, "WATCH")
            except BaseException:
                self.client._watching = False
                raise

    def __await__(self) -> Any:
        async def run() -> "AsyncWatch":
            await self._subscribe()
            return self
        return run().__await__()

    def __aiter__(self) -> "AsyncWatch":
        return self

    async def __anext__(self) -> Union[Result, FaceEvent]:
        await self._subscribe()
        while True:
            if not self.client._watching:
                raise StopAsyncIteration
            _, o = await self.client._next_stream(self.timeout)
            msg = _wire.decode(o)
            if isinstance(msg, (Result, FaceEvent)):
                return msg

    async def lines(self) -> AsyncIterator[str]:
        """Each stream message as its raw JSON line."""
        await self._subscribe()
        while self.client._watching:
            line, _ = await self.client._next_stream(self.timeout)
            yield line.decode("utf-8", errors="replace")

    async def messages(self) -> AsyncIterator[Union[Result, FaceEvent, Message]]:
        await self._subscribe()
        while self.client._watching:
            _, o = await self.client._next_stream(self.timeout)
            yield _wire.decode(o)

    async def close(self) -> None:
        if self.client._watching and self.client._fatal is None:
            try:
                await self.client.unwatch()
            except FerdError:
                pass
