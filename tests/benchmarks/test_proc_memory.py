"""The benchmark's memory sampler (benchmarks/proc_memory.py) attributes memory to the process that
holds it: a child's own peak, not its parent's carried over the fork and exec, and the parent's
own. No timing assumption: the child holds its memory until the test has seen it sampled."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.proc_memory import TreeSampler

MB = 1024  # KB

# The parent: allocates PARENT_MB (touching every page), then runs the child and waits for it.
PARENT = """
import subprocess, sys
held = bytearray(int(sys.argv[1]) * 2**20)
for i in range(0, len(held), 4096):
    held[i] = 1
sys.exit(subprocess.run([sys.executable, "-c", sys.argv[2], *sys.argv[3:]]).returncode)
"""
# The child: allocates CHILD_MB, says so, and holds it until the test writes the go file.
CHILD = """
import os, sys, time
held = bytearray(int(sys.argv[1]) * 2**20)
for i in range(0, len(held), 4096):
    held[i] = 1
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.005)
"""


def run_tree(tmp_path: Path, parent_mb: int, child_mb: int) -> TreeSampler:
    ready, go = tmp_path / "ready", tmp_path / "go"
    proc = subprocess.Popen([sys.executable, "-c", PARENT, str(parent_mb), CHILD, str(child_mb), str(ready), str(go)])
    try:
        with TreeSampler(proc.pid, interval_s=0.005) as sampler:
            deadline = time.monotonic() + 60
            # The child's memory is in place once it wrote `ready`; wait for 3 samples of it after that.
            while not ready.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            seen_at_ready = sum(p.seen for p in sampler.others.values())
            while sum(p.seen for p in sampler.others.values()) < seen_at_ready + 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            go.touch()
            assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    assert ready.exists(), "the child never allocated its memory"
    return sampler


def _child(sampler: TreeSampler):
    [child] = sampler.others.values()  # one program ran, once exec'd
    assert child.seen >= 3
    return child


def test_a_child_that_allocates_has_its_own_peak_and_the_small_parent_keeps_its_own(tmp_path):
    sampler = run_tree(tmp_path, parent_mb=0, child_mb=50)
    child, parent = _child(sampler), sampler.root_peak
    assert 50 * MB <= child.hwm_kb < 50 * MB + 30 * MB
    assert child.rss_anon_kb >= 50 * MB  # the allocation is anonymous memory
    assert parent.hwm_kb < 40 * MB  # a bare interpreter: the child's 50 MB are not the parent's
    # Together: both at one instant, the child's 50 MB included once.
    assert sampler.together_kb >= 50 * MB + sampler.together_parts["root"]
    assert sampler.together_parts["root"] < 40 * MB


def test_a_small_child_of_a_big_parent_does_not_inherit_the_parents_peak(tmp_path):
    # getrusage's ru_maxrss would give this child the parent's 100 MB, carried over the exec.
    sampler = run_tree(tmp_path, parent_mb=100, child_mb=0)
    child, parent = _child(sampler), sampler.root_peak
    assert child.hwm_kb < 40 * MB
    assert parent.hwm_kb >= 100 * MB
    assert 100 * MB <= sampler.together_kb < 100 * MB + 2 * 40 * MB
