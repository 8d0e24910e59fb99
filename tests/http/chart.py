#!/usr/bin/python3
"""chart.py — the live page's chart legend says what it shows, is right with
several faces at once, and stays in view.

A stand-in ferd plays a scripted scene, at its own pace, to the real
ferd-http and the page in Debian's headless chromium:
  A  2 s at 15 results/s: face 1, labelled sad;
  B  3 s at 5 results/s (ferd slowed by more faces): face 1 sad, face 2
     angry and face 3 happy, all in view;
  C  1 s at 10 results/s: no face.
The legend is each label's share of face-time over the chart's window: each
RESULT stands for the time since the one before it on ferd's clock (mono_ns),
and every face in it adds that time to its label. Face-seconds here:
sad 29/15 + 3 = 4.93, angry 3, happy 3 (the first RESULT starts the clock),
so the legend must read sad 45%, angry 27% and happy 27%, and the note under
it must give the face-seconds (10.9) and the mean faces in view (10.93 face-s
over 5.93 s: 1.8). While the three faces are listed, the chart, its legend
and the note under it must be inside the 1280x900 window: with every
class's bar under each of three faces, the list pushed the note below the
fold and the legend to its edge (806 of 813 px; now 626).

Before, the legend counted messages: sad 45 of 60 face-samples (75%), angry
25%: a face seen while ferd ran faster weighed more than one seen while it
ran slower; and it was redrawn only once a second with no word on its
window, so just after the page opened it could read "sad 100%" under a
picture that showed a face labelled angry (issue 16; demo.avi's first two
faces). This test fails on that page.

Exits 77 (skipped) when chromium is not installed.
"""

import json
import sys
import time

from cdp import Browser, CdpError, chromium_path
import httptest
from httptest import Failure, check, log, now
from httptest import status_line

BASE_NS = 4_000_000_000_000   # ferd's monotonic clock at the first RESULT


def face(fid, label, x):
    scores = {k: 0.02 for k in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}
    scores[label] = 0.88
    return {"id": fid, "box": {"x": x, "y": 150, "w": 160, "h": 160}, "label": label,
            "prob": 0.88, "scores": scores, "smoothed": {"label": label, "prob": 0.85}}


def scene():
    """The RESULTs (mono_ns, faces) of phases A, B and C, and the face-seconds
    per label they hold: each RESULT after the first weighs the time since
    the previous one."""
    steps = [(1 / 15, [face(1, "sad", 60)])] * 30 + \
            [(0.2, [face(1, "sad", 20), face(2, "angry", 240), face(3, "happy", 460)])] * 15 + \
            [(0.1, [])] * 10
    out, t, secs, span = [], 0.0, {}, 0.0
    for i, (dt, faces) in enumerate(steps):
        if i:
            t += dt
            span += dt
            for f in faces:
                secs[f["label"]] = secs.get(f["label"], 0.0) + dt
        out.append((BASE_NS + round(t * 1e9), faces))
    return out, secs, span


class SceneFerd(httptest.StandInFerd):
    """A ferd stand-in: answers STATUS, and plays the scene to the first WATCH
    at the pace of its clock (later WATCHes get the acknowledgement only, and
    are counted)."""

    def __init__(self, path, results):
        self.results = results
        self.watches = 0
        self.sent = 0
        self.status = status_line()
        super().__init__(path)

    def on_line(self, c, line):
        if b'"STATUS"' in line:
            c.sendall(self.status + b"\n")
        elif b'"WATCH"' in line:
            self.watches += 1
            c.sendall(b'{"class":"WATCH","enable":true,"max_fps":15,"min_prob":0,'
                      b'"events":false,"scores":true,"image":"none"}\n')
            if self.watches == 1:
                self._play(c)

    def _play(self, c):
        t0, mono0 = now(), self.results[0][0]
        for seq, (mono, faces) in enumerate(self.results, 1):
            wait = t0 + (mono - mono0) / 1e9 - now()
            if wait > 0:
                time.sleep(wait)
            r = {"class": "RESULT", "seq": seq,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                 "mono_ns": mono, "width": 640, "height": 480,
                 "timing": {"detect_ms": 3, "classify_ms": 2, "total_ms": 5},
                 "faces": faces, "ready_ns": mono + 5_000_000}
            c.sendall(json.dumps(r, separators=(",", ":")).encode() + b"\n")
            self.sent = seq


PAGE_JS = """(() => {
  const st = window.ferdPage || {}, note = document.getElementById('chart-note');
  return {results: st.results || 0, chart: st.chart || null,
          legend: [...document.querySelectorAll('#legend li')].map(e => e.textContent),
          note: note ? note.textContent : null,
          listed: document.querySelectorAll('#faces li:not(.none)').length,
          note_bottom: note ? note.getBoundingClientRect().bottom : null,
          view_h: window.innerHeight};
})()"""


def main():
    if not chromium_path():
        log("chromium is not installed: skipped")
        return 77
    return httptest.run_main("ferd-http-chart-", checks, errors=(Failure, CdpError))


def checks(run):
    results, secs, span = scene()
    total = sum(secs.values())
    want = {k: round(100 * v / total) for k, v in secs.items()}
    sock = run.scratch.path("scene.sock")
    fake = SceneFerd(sock, results)
    run.extra.append(fake)
    run.h = h = httptest.start_http(run.scratch, sock, "--set", "metrics_watch=no")
    with Browser(run.scratch.dir) as b:
        page = b.open(h.url("/"))
        # Every RESULT on the page, then one more chart drawing (at most 1 s
        # later): the legend's final state.
        deadline, state, done_at, three = now() + 60, {}, None, []
        while now() < deadline:
            state = page.eval(PAGE_JS)
            if state["listed"] == 3:
                three.append((state["note_bottom"], state["view_h"]))
            if state["results"] >= len(results) and done_at is None:
                done_at = now()
            if done_at is not None and now() - done_at > 1.5:
                break
            time.sleep(0.1)
        check(done_at is not None, "the page got %s of %d RESULTs within 60 s (the stand-in "
              "sent %d, saw %d WATCH)", state.get("results"), len(results), fake.sent, fake.watches)
        check(fake.watches == 1, "ferd-http subscribed %d times: the scene was not played once",
              fake.watches)
        state = page.eval(PAGE_JS)
        page.close()
    check(three, "the page never listed the three faces of phase B")
    low = max(three)
    check(all(b <= h for b, h in three), "with three faces listed the chart note's bottom is "
          "at %.0f px, below the window's %.0f px", low[0], low[1])
    log("three faces listed: the chart, its legend and note end at most %.0f px down, in a "
        "window of %.0f px (%d samples)",
        low[0], low[1], len(three))
    legend = {}
    for item in state["legend"]:
        name, _, p = item.partition(" ")
        legend[name] = int(p.rstrip("%")) if p else None
    log("legend %s; note %r", legend, state["note"])
    log("expected face-seconds %s (total %.2f over %.2f s of results): %s",
        {k: round(v, 3) for k, v in secs.items()}, total, span, want)
    for label, p in want.items():
        check(legend.get(label) == p, "legend: %s %s%%, not %d%% (its share of face-time); "
              "legend %s", label, legend.get(label), p, state["legend"])
    others = {k: v for k, v in legend.items() if k not in want}
    check(all(v == 0 for v in others.values()), "labels not in the scene have shares: %s", others)
    chart = state["chart"] or {}
    check(abs(chart.get("face_s", 0) - total) < 0.01 and abs(chart.get("span_s", 0) - span) < 0.01,
          "the page counted %.3f face-seconds over %.3f s, not %.3f over %.3f",
          chart.get("face_s", 0), chart.get("span_s", 0), total, span)
    note = state["note"] or ""
    for words in ("face-time", "%.1f face-seconds" % total,
                  "%.1f faces in view on average" % (total / span), "since this page opened"):
        check(words in note, "the note under the legend does not say %r: %r", words, note)
    check(h.stop() == 0, "ferd-http did not exit 0 on SIGTERM")
    run.h = None
    log("chart: three faces at once, ferd's rate changing: the legend gives each label's share of "
        "face-time (%s), not of messages, and says so", ", ".join(
            "%s %d%%" % kv for kv in sorted(want.items())))


if __name__ == "__main__":
    sys.exit(main())
