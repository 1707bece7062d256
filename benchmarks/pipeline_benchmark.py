"""Compile time of the Aphex pipeline and its critical path, for 1 to 200 environments of 10 stacks.

Each environment has 10 stacks in a dependency chain of ``depth`` waves (stacks spread over the waves),
tests, and every third one an approval. Prints, per size: the time to build and serialize the template
(best of 3), its number of tasks, the critical path in steps (validate, build, self-update, then every
approval, deploy and test task one after another) and the stack dependency depth of one environment.
Run: ``.venv/bin/python -m benchmarks.pipeline_benchmark``.
"""

import time
from typing import Any

from aphex.dsl.bundle_writer import dump_yaml
from aphex.dsl.config import config_from_document
from aphex.dsl.settings import load_settings
from aphex.workflows.aphex_pipeline.pipeline import pipeline_template

STACKS = 10
ROLE_KINDS = ("build", "deploy", "monitor", "selfUpdate")
PIPELINE = {
    "name": "aphex-pipeline",
    "repository": "bench",
    "artifactBucket": "bench-artifacts",
    "roleArns": {
        kind: f"arn:aws:iam::123456789012:role/{kind}"
        for kind in ("build", "deploy", "monitor", "selfUpdate")
    },
}


def config(environments: int, depth: int) -> Any:
    def stacks() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index in range(STACKS):
            wave = index * depth // STACKS
            stack: dict[str, Any] = {"name": f"S{index}", "path": "infra"}
            earlier = [s["name"] for s in out if int(s["name"][1:]) * depth // STACKS == wave - 1]
            if earlier:
                stack["dependsOn"] = earlier[:1]
            out.append(stack)
        return out

    return config_from_document(
        {
            "version": "1.0",
            "build": {"commands": ["make"]},
            "environments": [
                {
                    "name": f"env{n}",
                    "region": "eu-west-1",
                    "account": "123456789012",
                    "stacks": stacks(),
                    "tests": {"commands": ["make test"]},
                    **({"approval": {"required": True}} if n % 3 == 2 else {}),
                }
                for n in range(environments)
            ],
        }
    )


def critical_path(template: dict[str, Any]) -> int:
    (main,) = [t for t in template["spec"]["templates"] if t["name"] == "main"]
    tasks = {t["name"]: t for t in main["dag"]["tasks"]}
    longest: dict[str, int] = {}
    for name, task in tasks.items():  # tasks are emitted in topological order
        before = [n for n in tasks if n != name and n in task.get("depends", "").replace(".", " ").split()]
        longest[name] = 1 + max((longest[b] for b in before), default=0)
    return max(longest.values())


def main() -> None:
    settings = load_settings({"pipelines": [PIPELINE]})
    header = ("envs", "stacks", "tasks", "compile s", "YAML KiB", "critical path", "stack depth")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 7, 6, 10, 9, 14, 12), strict=True)))
    for environments in (1, 10, 50, 200):
        for depth in (2, 10):
            cfg = config(environments, depth)
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                template = pipeline_template(cfg, settings)
                text = dump_yaml(template)
                best = min(best, time.perf_counter() - start)
            (main_dag,) = [t for t in template["spec"]["templates"] if t["name"] == "main"]
            waves = len(cfg.environments[0].stack_waves())
            tasks = len(main_dag["dag"]["tasks"])
            print(
                f"{environments:>5} {environments * STACKS:>7} {tasks:>6} {best:>10.3f} "
                f"{len(text) / 1024:>9.0f} {critical_path(template):>14} {waves:>12}"
            )


if __name__ == "__main__":
    main()
