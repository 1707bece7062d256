"""Benchmark of ``aphex lint``: time to lint N files against the time just to parse them.

Copies the valid corpus into a temporary directory until it holds N files (default 200), then prints
the parse time, the lint time and whether Hera was imported (it must not be). Figures only: nothing here
passes or fails. Usage: ``.venv/bin/python benchmarks/lint_benchmark.py [N]``.
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aphex.dsl.lint import lint_documents, load_paths  # noqa: E402


def main(count: int) -> None:
    sources = sorted((ROOT / "tests" / "dsl" / "lint" / "corpus" / "valid").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory)
        for index in range(count):
            source = sources[index % len(sources)]
            shutil.copy(source, target / f"{index:04d}-{source.name}")
        started = time.perf_counter()
        documents = load_paths([target])
        parsed = time.perf_counter()
        problems = lint_documents(documents)
        linted = time.perf_counter()
    hera = any(name.startswith("hera") for name in sys.modules)
    print(f"files: {count}  documents: {len(documents)}  problems: {len(problems)}")
    print(f"parse only: {parsed - started:.3f} s")
    print(f"lint (checks after parsing): {linted - parsed:.3f} s")
    print(f"total: {linted - started:.3f} s  ({(linted - started) / count * 1000:.2f} ms per file)")
    print(f"hera imported: {hera}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
