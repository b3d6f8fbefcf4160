"""Progress of a running build: one line per interval (chapter, points stored / needed, elapsed, ETA), and a warning
when other processes compete for the cores."""

from __future__ import annotations

import os
import time
from pathlib import Path

from svd_icl.plan.planner import Planner, build_plan
from svd_icl.plan.report import fmt_minutes
from svd_icl.profiles import toc_chapters


def competing_processes(build_pid: int | None, threshold: float = 50.0) -> list[str]:
    """Processes outside the build (not ``build_pid`` or its descendants) using more than ``threshold`` percent of
    a core over the last interval. Two torch processes on 2 cores slow each other about tenfold (their thread pools
    oversubscribe the cores), so a build says so rather than just running late."""
    import psutil

    ours = set()
    if build_pid is not None and psutil.pid_exists(build_pid):
        root = psutil.Process(build_pid)
        ours = {root.pid, *(c.pid for c in root.children(recursive=True))}
    ours.add(os.getpid())
    busy = []
    for proc in psutil.process_iter(["pid", "name", "cpu_percent"]):
        if proc.info["pid"] not in ours and (proc.info["cpu_percent"] or 0) > threshold:
            busy.append(f"{proc.info['name']} (pid {proc.info['pid']}, {proc.info['cpu_percent']:.0f}% CPU)")
    return busy


class Pace:
    """The ETA of the work left: the plan's estimate, rescaled by the pace measured so far once 5% of the estimated
    work is done. The pace is measured from the last moment nothing had been done yet, not from the build's start:
    chapters whose points are all stored take minutes of replotting and no planned compute, and counting them
    would inflate the ETA of a warm build many times over."""

    def __init__(self, first: float, now: float):
        self.first, self.idle_until = first, now

    def eta(self, left: float, now: float) -> float:
        done = self.first - left
        if done <= 0:
            self.idle_until = now  # still nothing done: the clock of the pace starts later
            return left
        if done < 0.05 * self.first:
            return left
        return left * (now - self.idle_until) / done


def watch(profile: str, planner: Planner, interval: float, current: Path | None, build_pid: int | None = None,
          competition_log: Path | None = None) -> None:  # fmt: skip
    """Print one progress line every ``interval`` seconds until killed: the chapter running, its points stored /
    needed, the whole book's, elapsed time and the ETA (the plan's estimate of what is left, rescaled by the pace
    measured so far); and a warning when other processes compete for the cores, also appended to
    ``competition_log`` (the README's record says whether the build had the cores to itself)."""
    import psutil

    chapters = toc_chapters()
    start = time.time()
    pace = Pace(sum(p.seconds for p in build_plan(profile, planner.results, chapters, planner)), start)
    for proc in psutil.process_iter():  # the first cpu_percent call of a process only starts its counter
        try:
            proc.cpu_percent()
        except psutil.Error:
            pass
    while True:
        time.sleep(interval)
        priced = build_plan(profile, planner.results, chapters, planner)
        left = sum(p.seconds for p in priced)
        eta = pace.eta(left, time.time())
        now = current.read_text().strip() if current and current.exists() else "?"
        mine = [p for p in priced if p.chapter == now]
        print(f"\n[build] {time.strftime('%H:%M')} {now}: {sum(p.stored for p in mine)}/{sum(p.total for p in mine)}"
              f" · book {sum(p.stored for p in priced)}/{sum(p.total for p in priced)} points"
              f" · elapsed {fmt_minutes(time.time() - start)} · ETA {fmt_minutes(eta)}", flush=True)  # fmt: skip
        busy = competing_processes(build_pid)
        if busy and competition_log is not None:
            with competition_log.open("a") as fh:
                fh.write(f"{time.strftime('%H:%M')} {now}: {', '.join(busy[:3])}\n")
        if busy:
            print(f"[build] warning: other processes share the {os.cpu_count()} cores and slow this build: "
                  + ", ".join(busy[:3]), flush=True)  # fmt: skip
