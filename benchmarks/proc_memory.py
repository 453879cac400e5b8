"""Peak memory of a process and of the programs it runs, sampled from /proc.

A thread reads /proc/<pid>/status of the root process and of every descendant every
`interval_s` (10 ms): VmRSS (resident now, anonymous + file-backed), VmHWM (the high-water mark of
that process's own address space since its last exec), RssAnon and RssFile. It keeps, per process,
the highest VmHWM seen, and for the tree the highest *sum* of VmRSS at one instant, with what each
process held at that instant: the figure a memory limit over the whole tree (Lambda's) sees.

Not getrusage's ru_maxrss of a child (`wait4`, GNU `time`): when a process execs, Linux folds the
RSS of the address space it leaves into the new program's ru_maxrss. A child forked (or vforked,
as Python's subprocess does) from a 70 MB Python carries those 70 MB into ffmpeg's figure.

A descendant counts only once it has exec'd: between fork and exec it shares (vfork) or copies
(fork) the parent's pages, and /proc shows the parent's RSS and VmHWM under the child's pid. It is
told apart by its command line, which is the parent's until the exec (/proc/<pid>/cmdline is read
from the address space). VmHWM is cumulative, so a child that lives across a few samples is caught
with its own peak up to the last sample; `seen` says in how many samples each program was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def status(pid: int) -> dict[str, int] | None:
    """The memory fields of /proc/<pid>/status in KB (None once the process is gone, or a zombie)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in FIELDS:
                    out[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return out if "VmRSS" in out else None  # a zombie has no memory fields


def cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return "?"


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def executed_descendants(root: int) -> list[int]:
    """Descendants that have exec'd: a child whose command line is still its parent's is skipped
    (its own children cannot have exec'd from it yet)."""
    found = []
    stack = [(root, cmdline(root))]
    while stack:
        parent, parent_cmd = stack.pop()
        for child in children(parent):
            child_cmd = cmdline(child)
            if child_cmd is None or child_cmd == parent_cmd:
                continue
            found.append(child)
            stack.append((child, child_cmd))
    return found


@dataclass
class ProcessPeak:
    name: str
    hwm_kb: int = 0  # the highest VmHWM sampled
    rss_anon_kb: int = 0  # RssAnon / RssFile when VmRSS was highest
    rss_file_kb: int = 0
    rss_kb: int = 0
    seen: int = 0  # samples


@dataclass
class TreeSampler:
    """with TreeSampler(pid) as sampler: ... then sampler.result()."""

    root: int
    interval_s: float = 0.01
    also: Callable[[], int] | None = None  # another figure to sample each time (the bytes in /tmp)
    also_peak: int = 0
    samples: int = 0
    root_peak: ProcessPeak = field(default_factory=lambda: ProcessPeak("root"))
    others: dict[tuple[int, str], ProcessPeak] = field(default_factory=dict)  # (pid, comm) after exec
    together_kb: int = 0
    together_parts: dict[str, int] = field(default_factory=dict)  # at the instant of together_kb
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"memory-sampler-{self.root}")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    @staticmethod
    def _note(peak: ProcessPeak, st: dict[str, int]) -> None:
        peak.seen += 1
        peak.hwm_kb = max(peak.hwm_kb, st.get("VmHWM", 0), st["VmRSS"])
        if st["VmRSS"] >= peak.rss_kb:
            peak.rss_kb = st["VmRSS"]
            peak.rss_anon_kb, peak.rss_file_kb = st.get("RssAnon", 0), st.get("RssFile", 0)

    def sample(self) -> None:
        """One reading of the whole tree (also callable directly, e.g. by a test)."""
        if self.also is not None:
            self.also_peak = max(self.also_peak, self.also())
        root = status(self.root)
        if root is None:
            return
        others = []
        for pid in executed_descendants(self.root):
            st = status(pid)
            if st is not None:
                others.append((pid, comm(pid), st))
        with self._lock:
            self.samples += 1
            self._note(self.root_peak, root)
            parts = {"root": root["VmRSS"]}
            for pid, name, st in others:
                self._note(self.others.setdefault((pid, name), ProcessPeak(name)), st)
                parts[name] = parts.get(name, 0) + st["VmRSS"]
            total = sum(parts.values())
            if total > self.together_kb:
                self.together_kb, self.together_parts = total, parts

    def seen(self, name: str) -> int:
        with self._lock:
            return sum(p.seen for p in self.others.values() if p.name == name)

    def peak_of(self, name: str) -> ProcessPeak | None:
        """The highest peak among the programs of that name (e.g. each ffmpeg the converter ran)."""
        with self._lock:
            found = [p for p in self.others.values() if p.name == name]
        return max(found, key=lambda p: p.hwm_kb) if found else None

    def result(self) -> dict[str, Any]:
        with self._lock:
            return {
                "samples": self.samples,
                "interval_s": self.interval_s,
                "root": self.root_peak.__dict__,
                "programs": [{"pid": pid, **p.__dict__} for (pid, _), p in self.others.items()],
                "together_kb": self.together_kb,
                "together_parts_kb": dict(self.together_parts),
            }
