"""python -m ferd — the package's command line.

    python -m ferd [--socket PATH] [--timeout S] status [--json]
    python -m ferd [--socket PATH] watch [--events] [--min-prob P] [--max-fps F]
                                         [--no-scores] [--count N] [--json]
    python -m ferd [--socket PATH] snapshot [--json] [--no-scores] [-o FILE] [--annotated]
    python -m ferd classify [--model FILE] [options] IMAGE...

status, watch and snapshot talk to the daemon and print what ferctl prints
(--json: the daemon's own lines). classify runs in this process through
libferclassify and prints one JSON line per image exactly as `fer classify`
does, errors on stderr, one line per failed image.

Exit status, as ferctl's: 0 done, 1 failed (refused; for classify: an image
failed), 2 ferd not running or not reachable, 3 connection lost, 4 incompatible
protocol, 5 timeout, 64 bad command line.
"""

import argparse
import datetime as _dt
import os
import sys
from typing import List, Optional, Sequence

from . import errors
from .classifier import Classifier
from .client import Client
from .results import FaceEvent, Result

OK, FAIL, NODAEMON, LOST, VERSION, TIMEOUT, USAGE = 0, 1, 2, 3, 4, 5, 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(USAGE)


def _clock(t: _dt.datetime) -> str:
    return t.astimezone().strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _print_result(r: Result, last: List[int]) -> None:
    """One line per face, as `ferctl watch` prints (the smoothed label)."""
    if not r.faces:
        if last[0] != 0:
            print(f"{_clock(r.time)}  frame {r.seq:<6}  no face")
        last[0] = 0
        return
    for f in r.faces:
        line = (f"{_clock(r.time)}  frame {r.seq:<6}  face {f.id:<3}  {f.smoothed.label:<9} "
                f"{f.smoothed.prob:.2f}  at {f.box.x},{f.box.y} {f.box.w}x{f.box.h}")
        if f.new:
            line += "  new"
        if f.changed_from:
            line += f"  (was {f.changed_from})"
        print(line)
    last[0] = len(r.faces)


def _print_event(e: FaceEvent) -> None:
    line = f"{_clock(e.time)}  frame {e.seq:<6}  face {e.id:<3}  {e.event:<8}"
    if e.event != "ended" and e.label is not None and e.box is not None:
        line += (f"  {e.label:<9} {e.prob or 0:.2f}  at {e.box.x},{e.box.y} "
                 f"{e.box.w}x{e.box.h}")
        if e.from_label:
            line += f"  (was {e.from_label})"
    print(line)


def _print_snapshot(r: Result) -> None:
    n = len(r.faces)
    total = r.timing.total_ms or 0.0
    print(f"frame {r.seq} at {_clock(r.time)}, {r.width}x{r.height}, {n} face"
          f"{'' if n == 1 else 's'}, {total:.1f} ms")
    for f in r.faces:
        print(f"  face {f.id:<3}  {f.label:<9} {f.prob:.2f}  at {f.box.x},{f.box.y} "
              f"{f.box.w}x{f.box.h}  smoothed {f.smoothed.label} {f.smoothed.prob:.2f}")
        if f.scores:
            print("           " + "".join(f" {k} {v:.2f}" for k, v in f.scores.items()))


def _cmd_status(c: Client, a: argparse.Namespace) -> int:
    s = c.status()
    print(c.last_line if a.json else s)
    return OK


def _cmd_watch(c: Client, a: argparse.Namespace) -> int:
    w = c.watch(events=a.events, min_prob=a.min_prob, max_fps=a.max_fps,
                scores=not a.no_scores)
    n = 0
    last = [-1]
    if a.json:
        # As `ferctl watch --json`: the greeting and the acknowledgement, then the stream.
        print(c.greeting_line)
        print(c.last_line, flush=True)
        for line in w.lines():
            print(line, flush=True)
            n += 1
            if a.count and n >= a.count:
                break
        return OK
    for m in w:
        if isinstance(m, FaceEvent):
            _print_event(m)
        else:
            _print_result(m, last)
        sys.stdout.flush()
        n += 1
        if a.count and n >= a.count:
            break
    return OK


def _cmd_snapshot(c: Client, a: argparse.Namespace) -> int:
    image = "none"
    if a.output:
        image = "annotated" if a.annotated else "jpeg"
    r = c.snapshot(image=image, scores=not a.no_scores)
    if a.output:
        if r.image is None:
            print("ferd: the daemon sent no picture (are images allowed for this user?)",
                  file=sys.stderr)
            return FAIL
        tmp = f"{a.output}.tmp.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(r.image.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.output)
    if a.json:
        print(c.last_line)
    else:
        _print_snapshot(r)
    return OK


def _client_main(a: argparse.Namespace) -> int:
    cmd = {"status": _cmd_status, "watch": _cmd_watch, "snapshot": _cmd_snapshot}[a.command]
    try:
        with Client(a.socket, timeout=a.timeout) as c:
            return cmd(c, a)
    except (errors.NotRunningError, errors.PermissionDeniedError) as e:
        print(f"ferd: {e}", file=sys.stderr)
        return NODAEMON
    except errors.VersionMismatchError as e:
        print(f"ferd: {e}", file=sys.stderr)
        return VERSION
    except errors.FerdTimeoutError as e:
        print(f"ferd: {e}", file=sys.stderr)
        return TIMEOUT
    except (errors.ConnectionLostError, errors.ProtocolError) as e:
        print(f"ferd: {e}", file=sys.stderr)
        return LOST
    except (errors.FerdError, ValueError, OSError) as e:
        print(f"ferd: {e}", file=sys.stderr)
        return FAIL
    except KeyboardInterrupt:
        return OK


def _classify_main(a: argparse.Namespace) -> int:
    opts = dict(max_faces=a.max_faces, largest_only=a.largest or None,
                detect_width=a.detect_width, scale_factor=a.scale_factor,
                min_neighbors=a.min_neighbors, min_face=a.min_face, cascade=a.cascade)
    try:
        clf = Classifier(a.model, **opts)
    except (errors.ClassifierError, ValueError) as e:
        print(f"python -m ferd classify: {e}", file=sys.stderr)
        return FAIL
    failed = 0
    with clf:
        for path in a.images:
            try:
                r = clf.classify(path)
            except errors.ImageError as e:
                print(f"python -m ferd classify: {e}", file=sys.stderr)
                failed += 1
                continue
            print(clf.result_json(r, scores=not a.no_scores), flush=True)
    return FAIL if failed else OK


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m ferd", description="ferd from Python: talk to the daemon, "
                "or classify images in process.")
    p.add_argument("--socket", help="ferd's socket (default: $FERD_SOCKET, else "
                   "/run/ferd/ferd.sock)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the daemon's answers (5)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    s = sub.add_parser("status", help="the daemon's state")
    s.add_argument("--json", action="store_true", help="the STATUS line itself")
    w = sub.add_parser("watch", help="results as they come")
    w.add_argument("--events", action="store_true",
                   help="only: a face appears, its label changes, it leaves")
    w.add_argument("--min-prob", type=float, default=0.0, help="leave out faces below this")
    w.add_argument("--max-fps", type=float, default=0.0, help="at most this many per second")
    w.add_argument("--no-scores", action="store_true", help="no per-class scores")
    w.add_argument("--count", type=int, default=0, help="stop after N messages")
    w.add_argument("--json", action="store_true", help="the daemon's lines as they arrive")
    n = sub.add_parser("snapshot", help="the latest result now")
    n.add_argument("--json", action="store_true", help="the POLL line itself")
    n.add_argument("--no-scores", action="store_true", help="no per-class scores")
    n.add_argument("-o", "--output", help="also write the frame as JPEG to this file")
    n.add_argument("--annotated", action="store_true", help="with -o: boxes and labels drawn")
    c = sub.add_parser("classify", help="classify image files in process (as fer classify)")
    c.add_argument("images", nargs="+", metavar="IMAGE")
    c.add_argument("--model", help="model file (default: $FER_MODEL, else the installed one)")
    c.add_argument("--no-scores", action="store_true", help="leave out the per-class scores")
    c.add_argument("--largest", action="store_true", help="only the largest face")
    c.add_argument("--max-faces", type=int, help="at most N faces per image (8)")
    c.add_argument("--cascade", help="Haar cascade (OpenCV's frontal-face default)")
    c.add_argument("--detect-width", type=int, help="search at this width (640; 0 full size)")
    c.add_argument("--scale-factor", type=float, help="detection pyramid step (1.1)")
    c.add_argument("--min-neighbors", type=int, help="detections a face needs (4)")
    c.add_argument("--min-face", type=int, help="smallest face side in pixels (24)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = _parser()
    a = p.parse_args(argv)
    if a.command is None:
        p.print_usage(sys.stderr)
        return USAGE
    if a.command == "classify":
        return _classify_main(a)
    return _client_main(a)


if __name__ == "__main__":
    sys.exit(main())
