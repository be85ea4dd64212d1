"""Run a command; write its peak RSS (KiB) and wall seconds to a file (common.run_child).

    python bench/rusage_exec.py OUTFILE COMMAND [ARGS...]

Why a middleman: on Linux a child's ru_maxrss (from wait4, or getrusage(RUSAGE_CHILDREN))
also counts the memory map it had between fork and exec, which is a copy of its parent's.
The benchmark process holds hundreds of MB after a floor fetch of 100,000 messages, so
measured directly every child would "peak" at the benchmark's own size. This small process
forks the real command, so the number is the command's own peak (plus at most the ~10 MB of
this interpreter).
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    out, command = Path(sys.argv[1]), sys.argv[2:]
    start = time.perf_counter()
    code = subprocess.run(command, check=False).returncode
    elapsed = time.perf_counter() - start
    out.write_text(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {elapsed:.6f}")
    return code


if __name__ == "__main__":
    sys.exit(main())
