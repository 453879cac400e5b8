"""One converter "container" in its own process: imports the real handler as the Lambda runtime
does (from lambdas/), invokes it with a one-record SQS event a number of times, and reports its
peak resident memory.

The peak is VmHWM of /proc/self/status, the high-water mark of this process's own address space.
Not getrusage's ru_maxrss: Linux folds into a process's ru_maxrss the RSS of the address space it
left at its exec, so a child's figure carries its parent's (here the benchmark's own process,
hundreds of MB). ffmpeg's peak is sampled from /proc by the parent (benchmarks/proc_memory.py).

Run by benchmarks.converter_memory with the S3 endpoint pointed at benchmarks.mini_s3:
    python benchmarks/converter_child.py '<json arguments>'
Handler logs go to stdout; the measures are written as JSON to the file named in the arguments.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from pathlib import Path

LAMBDAS = Path(__file__).resolve().parent.parent / "lambdas"


def vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class Context:
    def __init__(self, timeout_s: int, memory_mb: int) -> None:
        self.function_name = "benchmark-converter"
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:benchmark-converter"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/benchmark-converter"
        self.log_stream_name = "benchmark"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    args = json.loads(sys.argv[1])
    measures: dict = {"rss_start_kb": vm_kb("VmRSS")}
    sys.path.insert(0, str(LAMBDAS))
    started = time.perf_counter()
    import converter  # noqa: E402  (the handler module, as the runtime imports it)

    measures["import_s"] = round(time.perf_counter() - started, 3)
    measures["rss_after_import_kb"] = vm_kb("VmRSS")
    invocations = []
    for _ in range(args["repeats"]):
        event = {"Records": [args["record"]]}
        started = time.perf_counter()
        response = converter.handler(event, Context(args["timeout_s"], args["memory_mb"]))
        invocations.append(
            {
                "seconds": time.perf_counter() - started,
                "batch_item_failures": len(response.get("batchItemFailures", [])),
            }
        )
    measures["invocations"] = invocations
    measures["python_peak_kb"] = vm_kb("VmHWM")
    measures["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # for the record: inflated, see above
    Path(args["result_file"]).write_text(json.dumps(measures))


if __name__ == "__main__":
    main()
