"""ferd.errors — every exception the package raises, one class per cause.

All derive from FerdError, so ``except ferd.FerdError`` catches everything the
package itself reports. Classes also derive from the matching built-in where
one exists (ConnectionError, PermissionError, TimeoutError, ValueError), so
generic handlers keep working. Messages are one line that names the socket,
file or argument at fault and, where there is one, the fix.
"""

from typing import Optional


class FerdError(Exception):
    """Base of every error this package raises."""


# ---- talking to the daemon -------------------------------------------------


class NotRunningError(FerdError, ConnectionError):
    """Nobody listens on the socket: ferd is not running, or the path is wrong."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"ferd is not running (no daemon listening on {path}); start it with "
            f"`systemctl start ferd`, or give the right socket (argument or $FERD_SOCKET)")

    def __str__(self) -> str:
        return str(self.args[0])


class PermissionDeniedError(FerdError, PermissionError):
    """The socket exists but this user may not connect to it."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"may not connect to ferd at {path}: permission denied "
                         f"(join group ferd, or ask its administrator)")

    def __str__(self) -> str:
        return str(self.args[0])


class FerdTimeoutError(FerdError, TimeoutError):
    """No greeting, answer or message within the time allowed."""

    def __str__(self) -> str:
        return str(self.args[0])


class ProtocolError(FerdError):
    """The peer broke protocol v1: a line that is not JSON, a malformed object,
    a line over the announced limit, or a greeting that is not VERSION."""


class VersionMismatchError(ProtocolError):
    """The daemon speaks another major protocol version than this package."""

    def __init__(self, message: str, major: int, minor: int):
        super().__init__(message)
        self.major = major
        self.minor = minor


class ConnectionLostError(FerdError, ConnectionError):
    """The daemon closed the connection (it stopped, or dropped this client).
    shutdown_message holds the text of its SHUTDOWN object, "" if it sent none."""

    def __init__(self, message: str, shutdown_message: str = ""):
        super().__init__(message)
        self.shutdown_message = shutdown_message

    def __str__(self) -> str:
        return str(self.args[0])


class RefusedError(FerdError):
    """The daemon answered a request with an ERROR object (proto/PROTOCOL.md):
    code is its machine-readable code ("rate_limit", "forbidden", ...)."""

    def __init__(self, code: str, message: str, request: Optional[str] = None):
        self.code = code
        self.message = message
        self.request = request
        what = f"ferd refused {request}" if request else "ferd refused the request"
        super().__init__(f"{what}: {message} ({code})")


# ---- in-process classification ---------------------------------------------


class ClassifierError(FerdError):
    """libferclassify reported a failure: code is its negative return value
    (a negated errno, or one of ferd's own codes)."""

    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


class LibraryNotFoundError(ClassifierError):
    """libferclassify could not be loaded."""


class ModelError(ClassifierError):
    """The model (or cascade) could not be opened: missing, unreadable, damaged."""


class ImageError(ClassifierError, ValueError):
    """An image could not be read, decoded or used (bad array shape, bad box)."""
