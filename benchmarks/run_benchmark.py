"""Benchmark of ``aphex run``: scheduling overhead per node, and the cost of one runner subprocess.

Part 1 runs a DAG of N trivial tasks (default 200: 20 layers of 10, each task depending on the whole
previous layer) with an in-process handler, so the time is the engine's own (substitution, depends,
threads, bookkeeping) plus linting the input, which ``aphex run`` does first (printed apart). Part 2
runs one Hera runner step in a subprocess (Python start-up plus importing Hera), as every runner step
costs. Figures only. Usage: ``.venv/bin/python benchmarks/run_benchmark.py [N]``.
"""

import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aphex.dsl.lint import lint_paths  # noqa: E402
from aphex.dsl.run import LeafCall, LeafOutcome, RunOptions, run_workflow  # noqa: E402


def _dag(count: int, width: int = 10) -> dict[str, object]:
    tasks = []
    for index in range(count):
        layer = index // width
        task: dict[str, object] = {
            "name": f"t{index}",
            "template": "leaf",
            "arguments": {"parameters": [{"name": "n", "value": str(index)}]},
        }
        if layer:
            task["depends"] = " && ".join(f"t{i}" for i in range((layer - 1) * width, layer * width))
        tasks.append(task)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "bench"},
        "spec": {
            "entrypoint": "main",
            "templates": [
                {"name": "main", "dag": {"tasks": tasks}},
                {
                    "name": "leaf",
                    "inputs": {"parameters": [{"name": "n"}]},
                    # The value travels as env, never in a command line (the project's rule).
                    "container": {
                        "image": "none",
                        "command": ["true"],
                        "env": [{"name": "N", "value": "{{inputs.parameters.n}}"}],
                    },
                },
            ],
        },
    }


def _trivial(call: LeafCall) -> LeafOutcome:
    return LeafOutcome(phase="Succeeded", result=call.inputs[0]["value"])


RUNNER = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: runner-bench}
spec:
  entrypoint: greet
  templates:
  - name: greet
    inputs: {parameters: [{name: name, value: bench}, {name: times, value: "1"}]}
    script:
      image: none
      command: [python]
      args: [-m, hera.workflows.runner, -e, "tests.dsl.run.runner_steps:greet"]
      source: "{{inputs.parameters}}"
"""


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        file = root / "dag.yaml"
        file.write_text(yaml.safe_dump(_dag(count)))
        started = time.perf_counter()
        result = run_workflow([file], RunOptions(workdir=root / "dag", functions={"leaf": _trivial}))
        elapsed = time.perf_counter() - started
        assert result.phase == "Succeeded", result.message
        print(f"DAG of {count} in-process nodes: {elapsed:.3f} s ({elapsed / count * 1000:.2f} ms per node)")
        started = time.perf_counter()
        lint_paths([file])
        linting = time.perf_counter() - started
        per_node = linting / count * 1000
        print(f"  of which linting the input first: {linting:.3f} s ({per_node:.2f} ms per node)")
        runner = root / "runner.yaml"
        runner.write_text(RUNNER)
        started = time.perf_counter()
        result = run_workflow([runner], RunOptions(workdir=root / "runner", python_path=[str(ROOT)]))
        elapsed = time.perf_counter() - started
        assert result.phase == "Succeeded", result.message
        print(f"one Hera runner step (subprocess): {elapsed:.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
