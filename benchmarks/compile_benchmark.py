"""Cost of ``aphex compile`` of the default bundle against a bare ``import hera.workflows``.

Both run as fresh processes of the same interpreter (so both pay interpreter start-up), best of ``N``
runs each (default 5), wall time and peak memory (max RSS). Prints both and the ratio compile / import;
the goal is a ratio of at most 1.3: aphex adds little to the Hera it is built on.
Run: ``.venv/bin/python -m benchmarks.compile_benchmark [N]``.
"""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.3


def measure(argv: list[str], runs: int) -> tuple[float, int]:
    """Best wall time in seconds and the largest max RSS in KiB of ``runs`` fresh processes of ``argv``."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return best, peak


def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "bundle"
        hera, hera_rss = measure([sys.executable, "-c", "import hera.workflows"], runs)
        compile_, compile_rss = measure(
            [sys.executable, "-m", "aphex.cli", "compile", "--out", str(out)], runs
        )
    ratio = compile_ / hera
    print(f"import hera.workflows: {hera:.3f} s (max RSS {hera_rss // 1024} MiB)")
    print(f"aphex compile:         {compile_:.3f} s (max RSS {compile_rss // 1024} MiB)")
    print(f"ratio compile / import: {ratio:.2f} (goal <= {GOAL})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
