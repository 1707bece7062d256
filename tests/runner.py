"""Run a step through the real runner boundary, as Argo runs it: ``python -m hera.workflows.runner``."""

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_step(
    entry: str, inputs: Mapping[str, str], workdir: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``module:function`` with ``inputs`` as Argo's JSON; outputs land in ``workdir / "out"``."""
    args = workdir / "inputs.json"
    args.write_text(json.dumps([{"name": key, "value": value} for key, value in inputs.items()]))
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "hera__outputs_directory": str(workdir / "out"),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "hera.workflows.runner", "-e", entry, str(args)],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
