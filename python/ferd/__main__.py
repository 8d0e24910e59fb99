"""python -m ferd — the package's command line.

    python -m ferd [--socket PATH] [--timeout S] status [--json]
    python -m ferd [--socket PATH] watch [--events] [--min-prob P] [--max-fps F]
                                         [--no-scores] [--count N] [--json]
    python -m ferd [--socket PATH] snapshot [--json] [--no-scores] [-o FILE] [--annotated]
    python -m ferd classify [--model FILE] [options] IMAGE...

(--socket, as in ferctl, and --timeout may follow status, watch or snapshot too.)

The command line follows docs/cli.md as fer, ferd and ferctl do: a usage error
is one line on stderr ("python -m ferd watch: unknown option '--evnets' (did
you mean '--events'?); see 'python -m ferd watch --help'") and exit 64, never
argparse's usage dump and status 2; -S is --socket, -m --model, -V --version;
snapshot -o FILE writes the format the name says (.jpg/.jpeg: the daemon's
JPEG as sent, .png: decoded and re-encoded through OpenCV), '-' writes the JPEG
to stdout and nothing else.

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
import re
import sys
from typing import Dict, List, NoReturn, Optional, Sequence, Tuple

from . import errors
from .classifier import Classifier
from . import __version__
from .client import Client
from .results import FaceEvent, Result

OK, FAIL, NODAEMON, LOST, VERSION, TIMEOUT, USAGE = 0, 1, 2, 3, 4, 5, 64


def _distance(a: str, b: str, limit: int = 2) -> int:
    """Edit distance with transpositions of neighbours (as util/cli.c's)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return min(d[len(a)][len(b)], limit + 1)


def _suggest(word: str, names: Sequence[str]) -> Optional[str]:
    """The closest name if the word is a likely slip: distance at most 2 and
    less than half the word's length (util/cli.c's rule)."""
    best, best_d = None, 3
    for n in names:
        d = _distance(word, n)
        if d < best_d and 2 * d < len(word):
            best, best_d = n, d
    return best


def _usage_exit(prog: str, message: str, suggestion: Optional[str] = None) -> "NoReturn":
    hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
    print(f"{prog}: {message}{hint}; see '{prog} --help'", file=sys.stderr)
    sys.exit(USAGE)


class _Parser(argparse.ArgumentParser):
    """argparse with docs/cli.md's usage errors: one line, exit 64."""

    def error(self, message: str) -> "NoReturn":
        m = re.match(r"argument \S+: invalid choice: '([^']*)'", message)
        if m:
            names = [c for a in self._actions
                     if isinstance(a, argparse._SubParsersAction) for c in a.choices]
            _usage_exit(self.prog, f"unknown command '{m.group(1)}'", _suggest(m.group(1), names))
        m = re.match(r"argument (\S+?)(/\S+)?: expected one argument", message)
        if m:
            _usage_exit(self.prog, f"option '{m.group(2)[1:] if m.group(2) else m.group(1)}' "
                        "needs a value")
        _usage_exit(self.prog, message.replace("argument ", "option ", 1)
                    if message.startswith("argument ") else message)

    def unknown(self, extra: Sequence[str]) -> "NoReturn":
        """The first argument parse_known_args left: an option or an operand."""
        word = extra[0]
        if word.startswith("-") and word != "-":
            name = word.split("=")[0]  # as getopt_long names it: without its value
            _usage_exit(self.prog, f"unknown option '{name}'", _suggest(name, self._longs()))
        _usage_exit(self.prog, f"unexpected argument '{word}'")

    def _longs(self) -> List[str]:
        return [o for a in self._actions for o in a.option_strings if o.startswith("--")]

    def lookup(self, word: str) -> Tuple[Optional[argparse.Action], Optional[str], bool]:
        """The action an option word names, as argparse would match it (exact, or
        a unique prefix of a long option), its attached value ('--x=V', '-xV'),
        and whether the prefix was ambiguous."""
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            hits = [a for a in self._actions if name in a.option_strings]
            if not hits:
                hits = [a for a in self._actions
                        if any(o.startswith(name) for o in a.option_strings)]
            if len(hits) != 1:
                return None, None, len(hits) > 1
            return hits[0], value if eq else None, False
        for a in self._actions:
            if word[:2] in a.option_strings:
                return a, (word[2:] or None) if a.nargs != 0 else None, False
        return None, None, False


def _first_unknown_option(p: _Parser, commands: Dict[str, _Parser],
                          argv: Sequence[str]) -> None:
    """Reports the first unknown option of the command line, in the order it
    was typed, as getopt_long does in the C tools. argparse alone would set an
    unknown option aside and read its value as the command ('--sokcet x status'
    would be "unknown command 'x'"). The walk stops, leaving the report to
    argparse, at the first thing argparse itself refuses: an unknown command, a
    missing or bad value, an ambiguous prefix; and at --help or --version,
    which win when they come first."""
    parser, i = p, 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            return
        if not word.startswith("-") or word == "-":
            if parser is p:
                if word not in commands:
                    return
                parser = commands[word]
            continue  # an operand: classify's images, or a stray one argparse names
        action, value, ambiguous = parser.lookup(word)
        if ambiguous:
            return
        if action is None:
            parser.unknown([word])
        if action.nargs == 0:
            if {"-h", "-V"} & set(action.option_strings):
                return
            continue
        if value is None:
            if i >= len(argv) or argv[i].startswith("-"):
                return
            value = argv[i]
            i += 1
        if action.type is not None:
            try:
                action.type(value)
            except (TypeError, ValueError):
                return


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
        # Led by the smoothed figure, as ferctl snapshot and the annotated picture show it.
        print(f"  face {f.id:<3}  {f.smoothed.label:<9} {f.smoothed.prob:.2f} smoothed  at "
              f"{f.box.x},{f.box.y} {f.box.w}x{f.box.h}  this frame {f.label} {f.prob:.2f}")
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


_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}


def _output_format(path: str) -> Optional[str]:
    """What snapshot -o writes: the name says it ('-': the JPEG on stdout)."""
    if path == "-":
        return "jpeg"
    return _FORMATS.get(os.path.splitext(path)[1].lower())


def _png(jpeg: bytes) -> bytes:
    """The daemon's JPEG as PNG: the pixels decoded and re-encoded (OpenCV)."""
    try:
        import cv2  # type: ignore
        import numpy
    except ImportError as e:
        raise ValueError("a .png needs OpenCV's Python module (Debian: python3-opencv); "
                         f"name the file .jpg to write the JPEG as sent ({e})") from e
    img = cv2.imdecode(numpy.frombuffer(jpeg, dtype=numpy.uint8), cv2.IMREAD_COLOR)
    ok, buf = (False, None) if img is None else cv2.imencode(".png", img)
    if not ok or buf is None:
        raise ValueError("the daemon's JPEG could not be re-encoded as PNG")
    return bytes(buf.tobytes())


def _write_atomic(path: str, data: bytes) -> None:
    """A temporary beside the file, fsync, rename: a reader never sees half a picture."""
    tmp = os.path.join(os.path.dirname(path) or ".",
                       f".{os.path.basename(path)}.tmp.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _cmd_snapshot(c: Client, a: argparse.Namespace) -> int:
    image = "none"
    if a.output:
        image = "annotated" if a.annotated else "jpeg"
    r = c.snapshot(image=image, scores=not a.no_scores)
    to_stdout = a.output == "-"
    if a.json:
        print(c.last_line, flush=True)
    elif not to_stdout:
        _print_snapshot(r)
    if a.output:
        if r.image is None:
            print("python -m ferd snapshot: the daemon sent no picture (are images allowed "
                  "for this user?)", file=sys.stderr)
            return FAIL
        fmt = _output_format(a.output)
        if to_stdout:
            sys.stdout.flush()
            sys.stdout.buffer.write(r.image.data)
            sys.stdout.buffer.flush()
            return OK
        _write_atomic(a.output, _png(r.image.data) if fmt == "png" else r.image.data)
        if not a.json:
            print(f"saved {a.output} ({r.image.width}x{r.image.height} "
                  f"{'annotated ' if a.annotated else ''}{'PNG' if fmt == 'png' else 'JPEG'})")
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


def _parser() -> _Parser:
    p = _Parser(prog="python -m ferd", description="ferd from Python: talk to the daemon, "
                "or classify images in process.")
    p.add_argument("-V", "--version", action="version",
                   version=f"python -m ferd {__version__}")
    p.add_argument("-S", "--socket", help="ferd's socket (default: $FERD_SOCKET, else "
                   "/run/ferd/ferd.sock)")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the daemon's answers (5)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                           prog="python -m ferd")
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
    n.add_argument("-o", "--output", metavar="FILE",
                   help="also write the frame; the name says the format: .jpg, .jpeg or "
                   ".png; '-' writes the JPEG to stdout (and nothing else)")
    n.add_argument("--annotated", action="store_true", help="with -o: boxes and labels drawn")
    for cmd in (s, w, n):
        # After the command too, as ferctl takes them; SUPPRESS leaves the value
        # given before the command in place when none is given after it.
        cmd.add_argument("-S", "--socket", default=argparse.SUPPRESS,
                         help="ferd's socket (as before the command)")
        cmd.add_argument("--timeout", type=float, default=argparse.SUPPRESS,
                         help="seconds to wait for the daemon's answers (5)")
    c = sub.add_parser("classify", help="classify image files in process (as fer classify)")
    c.add_argument("images", nargs="+", metavar="IMAGE")
    c.add_argument("-m", "--model", help="model file (default: $FER_MODEL, else the installed one)")
    c.add_argument("--no-scores", action="store_true", help="leave out the per-class scores")
    c.add_argument("--largest", action="store_true", help="only the largest face")
    c.add_argument("--max-faces", type=int, help="at most N faces per image (8)")
    c.add_argument("--cascade", help="Haar cascade (OpenCV's frontal-face default)")
    c.add_argument("--detect-width", type=int, help="search at this width (640; 0 full size)")
    c.add_argument("--scale-factor", type=float, help="detection pyramid step (1.1)")
    c.add_argument("--min-neighbors", type=int, help="detections a face needs (4)")
    c.add_argument("--min-face", type=int, help="smallest face side in pixels (24)")
    p.commands = sub.choices  # type: ignore[attr-defined]
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = _parser()
    commands: Dict[str, _Parser] = p.commands  # type: ignore[attr-defined]
    _first_unknown_option(p, commands, sys.argv[1:] if argv is None else argv)
    a, extra = p.parse_known_args(argv)
    if a.command is None:
        if extra:
            p.unknown(extra)
        _usage_exit(p.prog, "no command (status, watch, snapshot or classify)")
    sp = commands[a.command]
    if a.command == "classify" and extra and not any(x.startswith("-") for x in extra):
        # Images after an option ("a.png --model m b.png"): argparse leaves
        # them over, where fer classify's getopt_long takes them in order.
        a.images += extra
        extra = []
    if extra:
        sp.unknown(extra)
    if a.command == "snapshot":
        if a.annotated and not a.output:
            _usage_exit(sp.prog, "--annotated needs -o FILE")
        if a.output and _output_format(a.output) is None:
            _usage_exit(sp.prog, f"-o {a.output}: name the file .jpg, .jpeg or .png (the name "
                        "says the format), or '-' for stdout")
        if a.output == "-" and a.json:
            _usage_exit(sp.prog, "-o - puts the picture on stdout: it cannot carry --json too")
    if a.command == "classify":
        return _classify_main(a)
    return _client_main(a)


if __name__ == "__main__":
    sys.exit(main())
