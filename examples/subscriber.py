#!/usr/bin/python3
"""Print each face ferd sees, with the Python standard library only.
Usage: subscriber.py [SOCKET [COUNT]]  (default $FERD_SOCKET, else /run/ferd/ferd.sock)"""
import json, os, socket, sys
path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FERD_SOCKET", "/run/ferd/ferd.sock")
count = int(sys.argv[2]) if len(sys.argv) > 2 else 10
with socket.socket(socket.AF_UNIX) as s:
    s.connect(path)
    s.sendall(b'{"class":"WATCH","enable":true,"scores":false}\n')
    for line in s.makefile("r", encoding="utf-8"):
        msg = json.loads(line)
        if msg["class"] == "VERSION" and msg["proto_major"] != 1:
            sys.exit(f"ferd speaks protocol {msg['proto_major']}, this script 1")
        if msg["class"] == "RESULT":
            print(f"frame {msg['seq']}: {len(msg['faces'])} face(s)")
            for f in msg["faces"]:
                print(f"  face {f['id']} {f['label']} {f['prob']:.2f} at {f['box']}")
            count -= 1
            if count == 0:
                break
