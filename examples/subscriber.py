#!/usr/bin/python3
"""Print each face ferd sees, with the ferd Python package (docs/python.md).
Usage: subscriber.py [SOCKET [COUNT]]  (default $FERD_SOCKET, else /run/ferd/ferd.sock)"""
import os
import sys

try:
    import ferd
except ImportError:  # not installed: the package of this source tree
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import ferd

path = sys.argv[1] if len(sys.argv) > 1 else None
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
try:
    with ferd.Client(path) as client:
        for n, result in enumerate(client.watch(scores=False), 1):
            print(f"frame {result.seq}: {len(result.faces)} face(s)")
            for f in result.faces:
                print(f"  face {f.id} {f.smoothed.label} {f.smoothed.prob:.2f} at", f.box.as_tuple())
            if n == count:
                break
except ferd.FerdError as e:  # e.g. "ferd is not running (no daemon listening on ...)"
    sys.exit(f"subscriber: {e}")
