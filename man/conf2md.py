#!/usr/bin/env python3
"""conf2md.py — ferd.conf(5) in Markdown, written from conf/ferd.conf itself.

    conf2md.py conf/ferd.conf OUTPUT.md

conf/ferd.conf is the one place each setting is described: every key sits
below its comment, with its default value. This turns that file into the
Markdown of the manual page (mkman.py then makes the page), so the page and the
installed file can never disagree:
  - the comment block before the first section banner is the DESCRIPTION;
  - a banner ("#### SOURCE ####") starts a section of the page;
  - a comment block followed by key lines becomes one entry: the key lines as
    written (key and default value), then the comment as the text. A lone
    "# [live]" between key lines only marks the next key as live;
  - a block whose last comment line is itself "key value" (a setting shipped
    commented out, such as model) shows that line, marked "not set".
Any line this does not recognise stops the script with its line number, so a
new kind of line in conf/ferd.conf is noticed at build time rather than lost.
"""
import re
import sys

KEY = re.compile(r"^([a-z][a-z0-9_]*)\s+(\S.*)$")
BANNER = re.compile(r"^#{3,}\s+([A-Z][A-Z ]*[A-Z])\s+#{3,}$")


def blocks(lines):
    """Yields (kind, payload, line number) for banners and blank-separated blocks."""
    cur, start = [], 0
    for i, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        m = BANNER.match(line)
        if m or not line.strip():
            if cur:
                yield "block", cur, start
                cur = []
            if m:
                yield "banner", m.group(1), i
            continue
        if not cur:
            start = i
        cur.append((i, line))
    if cur:
        yield "block", cur, start


def entry(block, path):
    """One block's Markdown: key lines as the term, comments as the text."""
    comments, keys = [], []
    live_next = False
    for n, line in block:
        if line.startswith("#"):
            text = line[1:].strip()
            if keys and text == "[live]":
                live_next = True
                continue
            if keys:
                sys.exit(f"{path}:{n}: conf2md.py: a comment between settings")
            comments.append(text.replace("<", "\\<"))  # not an HTML tag to pandoc
            continue
        m = KEY.match(line)
        if not m:
            sys.exit(f"{path}:{n}: conf2md.py: not a setting: {line!r}")
        keys.append(f"`{m.group(1)} {m.group(2)}`" + (" [live]" if live_next else ""))
        live_next = False
    if not keys:
        m = KEY.match(comments[-1]) if len(comments) > 1 else None
        if not m:
            return "\n".join(comments) + "\n"  # prose: a paragraph of its own
        keys.append(f"`{m.group(1)} {m.group(2)}` (not set by default)")
        comments.pop()
    # "[live] text" above the first key marks that key, as "# [live]" marks the others.
    if comments and comments[0].startswith("[live]"):
        comments[0] = comments[0][len("[live]"):].strip()
        keys[0] += " [live]"
    return ", ".join(keys) + "\n:   " + "\n    ".join(comments) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    out = ["# ferd.conf(5)", "", "## NAME", "",
           "ferd.conf - configuration file of ferd, the facial expression recognition daemon",
           "", "## SYNOPSIS", "", "`/etc/ferd/ferd.conf`, `/etc/ferd/`*NAME*`.conf` (ferd@*NAME*)",
           "", "## DESCRIPTION", ""]
    seen_banner = False
    for kind, payload, n in blocks(lines):
        if kind == "banner":
            seen_banner = True
            out += [f"## {payload}", ""]
        elif not seen_banner:
            # The file's header: prose, its first line (the file's title) aside.
            # The file's header: its paragraphs, the title line ("ferd
            # configuration file.") aside.
            text = [l[1:].strip() for _, l in payload if l.startswith("#")]
            if text and text[0].lower().startswith("ferd configuration file"):
                text = text[1:]
            out += ["\n".join(text).strip(), ""]
        else:
            out += [entry(payload, path)]
    out += ["## FILES", "",
            "`/etc/ferd/ferd.conf`\n:   The configuration of the ferd service (ferd.service).", "",
            "`/etc/ferd/`*NAME*`.conf`\n:   The configuration of the instance ferd@*NAME*, which "
            "listens on `/run/ferd/`*NAME*`.sock`.", "",
            "## SEE ALSO", "", "ferd(8), ferctl(1), ferd-protocol(7), systemd.service(5)", ""]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
