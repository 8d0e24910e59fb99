#!/usr/bin/env python3
"""mkman.py — one manual page from one Markdown source, with pandoc.

    mkman.py PANDOC SOURCE.md OUTPUT NAME SECTION VERSION "WHATIS"

The Markdown in docs/ (and proto/PROTOCOL.md) is the only source of each page:
the same file reads as a page on the web and, through this script, as a man
page. The script only adapts the shape pandoc's man writer needs:
  - the first level-1 heading ("# ferd(8)") is dropped: the page's title comes
    from NAME and SECTION, and every other heading moves up one level
    (## NAME becomes .SH NAME, ### watch becomes .SS watch);
  - a source that has no "## NAME" section (a document written as an article,
    such as docs/HTTP.md) gets "NAME - WHATIS" and a DESCRIPTION heading
    before its first paragraph, so whatis(1) and apropos(1) index it;
  - the NAME line's dash becomes the plain "-" that lexgrog(1) recognises;
  - a table becomes a definition list (its first column the term, the others
    the text), because tbl(1) tables wider than a terminal are what man(1)
    warns about and what reads worst on a narrow screen.
The date is left out so that the page does not change between builds.
"""
import re
import subprocess
import sys


def cells(row):
    """The cells of a Markdown pipe-table row ("\\|" is a literal bar)."""
    row = row.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)]


def tables_to_lists(lines):
    """Pipe tables as definition lists: the first cell the term, the others
    as "header: cell" (empty ones left out), a last "meaning" column as is."""
    out, i = [], 0
    sep = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
    while i < len(lines):
        if lines[i].lstrip().startswith("|") and i + 1 < len(lines) and sep.match(lines[i + 1]):
            head = cells(lines[i])
            i += 2
            if out and out[-1].strip():
                out.append("")
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                row = cells(lines[i])
                row += [""] * (len(head) - len(row))
                # A last column headed "meaning" or "what" is the text itself;
                # any other column is named by its header.
                n = len(head)
                plain_last = n == 2 or head[-1].lower() in ("meaning", "what", "what it shows")
                named = range(1, n - 1) if plain_last else range(1, n)
                text = "; ".join(f"{head[k]}: {row[k]}" for k in named if row[k])
                if plain_last and row[n - 1]:
                    text = (text + ". " if text else "") + row[n - 1]
                out += [row[0] or " ", ":   " + (text or " "), ""]
                i += 1
            continue
        out.append(lines[i])
        i += 1
    return out


def adapt(text, name, whatis):
    lines = text.splitlines()
    # Drop the title heading (the first level-1 heading, if the file opens with one).
    while lines and not lines[0].strip():
        lines.pop(0)
    if lines and re.match(r"# ", lines[0]):
        lines.pop(0)
    lines = tables_to_lists(lines)
    out = []
    has_name = any(re.match(r"##\s+NAME\s*$", l) for l in lines)
    if not has_name:
        out += ["## NAME", "", f"{name} - {whatis}", "", "## DESCRIPTION", ""]
    in_name = False
    fence = False
    for l in lines:
        if l.startswith("```"):
            fence = not fence
        if not fence:
            if re.match(r"##\s+NAME\s*$", l):
                in_name = True
            elif l.startswith("#"):
                in_name = False
            elif in_name and l.strip():
                l = re.sub(r"\s+[\u2014\u2013]\s+", " - ", l, count=1)
        out.append(l)
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    pandoc, src, dst, name, section, version, whatis = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        md = adapt(f.read(), name, whatis)
    cmd = [pandoc, "--from=markdown-smart", "--to=man", "--standalone",
           "--shift-heading-level-by=-1",
           f"--metadata=title:{name.upper()}", f"--metadata=section:{section}",
           f"--metadata=header:ferd manual", f"--metadata=footer:ferd {version}",
           "--metadata=date:", f"--output={dst}"]
    r = subprocess.run(cmd, input=md.encode("utf-8"))
    if r.returncode != 0:
        sys.exit(f"mkman.py: pandoc failed on {src} (exit {r.returncode})")


if __name__ == "__main__":
    main()
