#!/usr/bin/python3
"""browser.py — ferd-http's page in a real browser (Debian's chromium,
headless), served from the real ferd on the demo clip.

Checks, each with a deadline that polls for the condition:
  1. the page draws frames of the clip and lists faces with a label and a
     probability (the DOM of #faces), and the label changes while we watch
     (at least two different labels, or a "→" line in the changes list);
  2. the boxes are drawn where ferd's RESULT says: the canvas pixels on the
     bottom and left edges of each face's box have the colour of its label;
  3. a screenshot (PNG, kept as build/tests/http/page.png for a person to
     look at) is not blank: the picture area has texture, and pixels of the
     label colours are present in it;
  4. the chart has drawn bars, the note under its legend says what the
     shares are (face-time) and over which window, and the header shows
     ferd's source state;
  5. the MJPEG view (/?view=mjpeg) shows a picture (an <img> with pixels)
     and labels too;
  6. with a ferd that refuses pictures (allow_images no), the page says why
     and still shows labels, boxes and the chart.
Exits 77 (skipped) when chromium is not installed.
"""

import json
import os
import sys
import time
import zlib

from cdp import Browser, CdpError, chromium_path
import httptest
from httptest import Failure, check, log, now

COLORS = {"angry": "#e5534b", "disgust": "#57ab5a", "fear": "#986ee2", "happy": "#e0b000",
          "sad": "#4184e4", "surprise": "#39c5cf", "neutral": "#9aa3ad"}


def rgb(hexcolor):
    return tuple(int(hexcolor[i:i + 2], 16) for i in (1, 3, 5))


def png_pixels(png):
    """Width, height and rows of RGB(A) bytes of a PNG (8-bit RGB or RGBA,
    as chromium writes them), with the standard library's zlib."""
    check(png[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(png):
        n = int.from_bytes(png[pos:pos + 4], "big")
        kind = png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h = int.from_bytes(data[0:4], "big"), int.from_bytes(data[4:8], "big")
            depth, ctype = data[8], data[9]
            check(depth == 8 and ctype in (2, 6), "unexpected PNG format %d/%d" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    p = 0
    for _ in range(h):
        f = raw[p]
        line = bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 0xFF
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


STATE_JS = """(() => {
  const st = window.ferdPage || {};
  if (!document.getElementById('conn')) return {drawn: 0, results: 0, labels: [], probs: [], log: [],
                                                 badge: '', source: '', notice: 'not loaded'};
  return {
    drawn: st.framesDrawn || 0,
    results: st.results || 0,
    labels: [...document.querySelectorAll('#faces .label')].map(e => e.textContent),
    probs: [...document.querySelectorAll('#faces .prob')].map(e => e.textContent),
    log: [...document.querySelectorAll('#log li')].map(e => e.textContent),
    badge: document.getElementById('conn').textContent,
    source: document.getElementById('source').textContent,
    notice: document.getElementById('notice').hidden ? '' : document.getElementById('notice').textContent,
  };
})()"""

# The colour under each face box's bottom and left edge in the canvas, and the
# box in page (CSS) pixels for the screenshot check.
BOXES_JS = """(() => {
  const st = window.ferdPage, cv = document.getElementById('picture');
  const r = st && st.lastDrawn;
  if (!r || !r.faces || !r.faces.length) return null;
  const g = cv.getContext('2d'), rect = cv.getBoundingClientRect();
  const sx = cv.width / r.width, sy = cv.height / r.height;
  const px = (x, y) => Array.from(g.getImageData(Math.round(x), Math.round(y), 1, 1).data.slice(0, 3));
  return {
    canvas: [cv.width, cv.height], rect: [rect.x, rect.y, rect.width, rect.height],
    seq: r.seq,
    faces: r.faces.map(f => ({
      label: f.label, prob: f.prob, box: f.box,
      bottom: px((f.box.x + f.box.w / 2) * sx, (f.box.y + f.box.h) * sy),
      left: px(f.box.x * sx, (f.box.y + f.box.h / 2) * sy),
      inside: px((f.box.x + f.box.w / 2) * sx, (f.box.y + f.box.h / 2) * sy),
    })),
  };
})()"""


def close(c1, c2, tol=40):
    return all(abs(a - b) <= tol for a, b in zip(c1, c2))


def wait_labels(page, what, drawn=10, timeout=90.0):
    """Polls the page until it drew frames (on its canvas) and showed two
    different labels."""
    seen, deadline, state = set(), now() + timeout, {}
    while now() < deadline:
        state = page.eval(STATE_JS)
        seen.update(state["labels"])
        changed = any("→" in line for line in state["log"])
        if state["drawn"] >= drawn and len(seen) >= 2 and state["labels"]:
            log("%s: %d frames drawn, %d results, labels seen %s, changes list %d lines%s",
                what, state["drawn"], state["results"], sorted(seen), len(state["log"]),
                " (with a label change)" if changed else "")
            return state, seen
        time.sleep(0.25)
    raise Failure("%s: within %.0f s the page did not show two labels; last state %s"
                  % (what, timeout, json.dumps(state)[:800]))


def main():
    if not chromium_path():
        log("chromium is not installed: skipped")
        return 77
    return httptest.run_main("ferd-http-browser-", checks, errors=(Failure, CdpError))


def checks(run):
    scratch = run.scratch
    out_dir = os.environ.get("HTTP_TEST_OUT", scratch.dir)
    run.d = d = httptest.demo_ferd(scratch)
    run.h = h = httptest.start_http(scratch, d)
    with Browser(scratch.dir) as b:
        # 1. labels appear and change
        page = b.open(h.url("/"))
        state, seen = wait_labels(page, "canvas view")
        for lab, p in zip(state["labels"], state["probs"]):
            check(lab in COLORS, "label %r is not a class of the model", lab)
            check(p.endswith("%") and 0 <= int(p[:-1]) <= 100, "probability %r", p)
        check(state["badge"] == "live", "the badge says %r, not live", state["badge"])

        # 2. boxes drawn where the RESULT says, in the label's colour
        deadline, boxes = now() + 60, None
        while now() < deadline:
            boxes = page.eval(BOXES_JS)
            if boxes:
                break
            time.sleep(0.2)
        check(boxes is not None, "no frame with a face was drawn within 60 s")
        for f in boxes["faces"]:
            want = rgb(COLORS[f["label"]])
            check(close(f["bottom"], want) or close(f["left"], want),
                  "face %s (%s at %s): the box edge is %s/%s, not the label colour %s",
                  f.get("id"), f["label"], f["box"], f["bottom"], f["left"], want)
        log("boxes: frame %d, %d face(s) drawn in their label colours: %s", boxes["seq"],
            len(boxes["faces"]), ", ".join("%s %.2f" % (f["label"], f["prob"])
                                           for f in boxes["faces"]))

        # 3. the screenshot: not blank, label colours present in the picture
        png = page.screenshot()
        with open(os.path.join(out_dir, "page.png"), "wb") as f:
            f.write(png)
        w, hgt, bpp, rows = png_pixels(png)
        x0, y0, rw, rh = [int(v) for v in boxes["rect"]]
        vals, coloured = [], 0
        targets = [rgb(c) for c in COLORS.values()]
        for y in range(max(0, y0), min(hgt, y0 + rh), 3):
            row = rows[y]
            for x in range(max(0, x0), min(w, x0 + rw), 3):
                px = tuple(row[x * bpp:x * bpp + 3])
                vals.append(sum(px) / 3)
                if any(close(px, t, 12) for t in targets):
                    coloured += 1
        mean = sum(vals) / len(vals)
        sd = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
        log("screenshot %dx%d: picture area %dx%d, grey mean %.1f, sd %.1f, %d sampled "
            "pixels in label colours", w, hgt, rw, rh, mean, sd, coloured)
        check(sd > 10, "the picture area is nearly uniform (sd %.1f): blank?", sd)
        check(coloured >= 20, "only %d pixels in label colours: no boxes drawn?", coloured)

        # 4. the chart and the header
        bars = page.eval("""(() => { const c = document.getElementById('chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4)
              if (Math.max(d[i], d[i+1], d[i+2]) - Math.min(d[i], d[i+1], d[i+2]) > 60) n++;
            return n; })()""")
        check(bars > 50, "the chart has %d coloured pixels: no bars", bars)
        # The legend's note says what the shares are and over which window
        # (tests/http/chart.py checks the shares themselves).
        chart = page.eval("""(() => ({chart: window.ferdPage.chart,
            note: document.getElementById('chart-note').textContent}))()""")
        check(chart["chart"] and chart["chart"]["face_s"] > 0 and "face-time" in chart["note"]
              and "face-seconds" in chart["note"], "the chart's note: %r", chart["note"])
        log("chart note: %s", chart["note"])
        st = page.eval(STATE_JS)
        check("streaming" in st["source"], "the header says %r", st["source"])
        log("chart: %d coloured pixels; header: %s", bars, st["source"])
        page.close()

        # 5. the MJPEG view
        page = b.open(h.url("/?view=mjpeg"))
        state, seen = wait_labels(page, "mjpeg view", drawn=0)
        deadline, nat = now() + 30, 0
        while now() < deadline:
            nat = page.eval("document.getElementById('mjpeg').naturalWidth")
            if nat:
                break
            time.sleep(0.2)
        check(nat == 640, "the MJPEG <img> shows no 640-pixel picture (naturalWidth %s)", nat)
        log("mjpeg view: the <img> shows a %d-pixel-wide picture", nat)
        page.close()
    check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    run.h = h = None

    # 6. ferd refuses pictures to ferd-http: the page says why and still
    #    shows the faces, the boxes (on black) and the chart.
    d.stop()
    run.d = d = httptest.demo_ferd(scratch, name="noimg", allow_images="no")
    run.h = h = httptest.start_http(scratch, d, name="noimg-http")
    with Browser(scratch.dir) as b:
        page = b.open(h.url("/"))
        state, seen = wait_labels(page, "no pictures", drawn=5)
        check("No picture" in state["notice"] and "allow_images" in state["notice"],
              "the page does not say why there is no picture: %r", state["notice"])
        log("no pictures: the page says %r and still shows labels %s", state["notice"][:90],
            sorted(seen))
        page.close()
    check(h.stop() == 0, "ferd-http (noimg) did not exit 0 on SIGTERM")
    log("browser: all checks passed (screenshot in %s)", os.path.join(out_dir, "page.png"))


if __name__ == "__main__":
    sys.exit(main())
