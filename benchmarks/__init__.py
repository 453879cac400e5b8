"""Performance and scale benchmark of the optimizer (`python -m benchmarks`).

Every comparison is a ratio of two figures measured in the same run: the machine this runs on is
shared and noisy, so an absolute wall time says little on its own. Counts (requests, transitions,
payload bytes) are deterministic and are what the smoke test in tests/benchmarks asserts.
"""
