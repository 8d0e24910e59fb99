"""ferd — facial expression recognition from Python.

Two ways in:
  * ferd.Client / ferd.AsyncClient talk to the ferd daemon over its Unix socket
    (protocol v1): status(), snapshot(), watch() as an iterator of typed results,
    reload();
  * ferd.Classifier classifies images inside this process with the same engine
    and the same numbers as `fer classify`, through libferclassify.
`python -m ferd status|watch|snapshot|classify` is the command line over both.
Results are the dataclasses of ferd.results; errors the exceptions of ferd.errors.
The manual is docs/python.md in ferd's source tree.
"""

from .aio import AsyncClient, AsyncWatch
from .classifier import Classifier, library_version, set_threads
from .client import Client, Watch
from .errors import (ClassifierError, ConnectionLostError, FerdError, FerdTimeoutError,
                     ImageError, LibraryNotFoundError, ModelError, NotRunningError,
                     PermissionDeniedError, ProtocolError, RefusedError, VersionMismatchError)
from .results import (Box, Face, FaceEvent, Image, Message, ModelInfo, Reload, Result,
                      Smoothed, SourceStatus, Status, Timing, Version, WatchSettings)
from ._wire import DEFAULT_SOCKET, PROTO_MAJOR, PROTO_MINOR, SOCKET_ENV, socket_path

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "AsyncWatch", "Classifier", "Client", "Watch", "library_version",
    "set_threads", "socket_path", "DEFAULT_SOCKET", "SOCKET_ENV", "PROTO_MAJOR", "PROTO_MINOR",
    "Box", "Face", "FaceEvent", "Image", "Message", "ModelInfo", "Reload", "Result", "Smoothed",
    "SourceStatus", "Status", "Timing", "Version", "WatchSettings",
    "FerdError", "NotRunningError", "PermissionDeniedError", "FerdTimeoutError",
    "ProtocolError", "VersionMismatchError", "ConnectionLostError", "RefusedError",
    "ClassifierError", "LibraryNotFoundError", "ModelError", "ImageError",
]
