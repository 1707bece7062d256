"""The demo driver: run the compiled implementation DAG for a sample pull request, locally.

``python -m examples.demo`` (from the repository root, after ``make bundle`` created ``.venv``):

1. compiles the bundle into a temporary directory (``aphex compile``, with the GitHub URLs of the
   stand-ins as values);
2. makes a git repository of ``examples/sample-app`` and publishes it as pull request 42
   (``refs/pull/42/head``) on a local git server (the real ``git http-backend``, HTTPS on 127.0.0.1);
3. starts the GitHub and Kubernetes API stand-ins and puts the ``helm`` stand-in first on PATH;
4. runs ``implementation-dag`` with ``aphex run``'s Python API: set-params, the CodeRun input
   validation, deploy, acceptance and the exit handler run as real Hera runner steps; CodeRuns are
   completed by a resource rule; acceptance probes the sample app for real on 127.0.0.1;
5. prints the run tree, the acceptance report, what the stand-ins saw and the timings.

Exit status 0 when the run Succeeded and the pull request was approved exactly once, 1 otherwise.
Options: ``--fail NODE`` forces a node to fail (to watch the exit handler clean up), ``--keep DIR``
keeps everything under DIR instead of a temporary directory, ``--quiet`` drops the live progress.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from aphex.dsl.run import Fault
from aphex.dsl.run.report import tree
from examples.demo.harness import PR, demo_environment, runner_startup_seconds

__all__ = ["main"]

_RUNNER_SCRIPTS = frozenset(
    {
        "set-params",
        "validate-coderun",
        "deploy",
        "acceptance",
        "cleanup-preview",
        "keep-preview",
        "publish-success",
        "publish-failure",
    }
)


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fail", metavar="NODE", action="append", default=[], help="force NODE to fail")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="work in DIR and keep it")
    parser.add_argument("--quiet", action="store_true", help="no live progress lines")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with demo_environment(args.keep) as env:
        setup = time.perf_counter() - started
        print(f"bundle compiled into {env.bundle} ({env.compile_seconds:.2f}s)")
        print(f"pull request #{PR}: {env.git_url}/octo-org/sample-app refs/pull/{PR}/head = {env.head_sha}")
        print(f"GitHub API stand-in: {env.github.url}")
        run_started = time.perf_counter()
        result = env.run(
            faults=[Fault(node=node) for node in args.fail],
            sleep=(lambda _seconds: None) if args.fail else time.sleep,  # no retry backoff when forced
            progress=None if args.quiet else print,
        )
        run_seconds = time.perf_counter() - run_started

        _section("run")
        print(tree(result), end="")

        _section("acceptance report")
        report_dir = result.artifacts.get("acceptance-report")
        if report_dir and (Path(report_dir) / "report.json").exists():
            report = json.loads((Path(report_dir) / "report.json").read_text())
            print(json.dumps(report, indent=2, sort_keys=True))
        else:
            print("(no acceptance report: acceptance did not run)")

        _section("helm and the Kubernetes API (stand-ins)")
        for call in env.cluster.calls():
            print("  " + " ".join(call if len(" ".join(call)) < 160 else [*call[:4], "..."]))
        for method, path in env.cluster.api_calls():
            print(f"  {method} {path}")
        state = env.cluster.state()
        print(f"  namespaces now: {json.dumps(state['namespaces'], sort_keys=True)}")
        print(f"  releases now: {sorted(state['releases'])}")

        _section("GitHub (stand-in)")
        for request in env.github.requests:
            print(f"  {request.method} {request.path}")
        for comment in env.github.comments:
            print(
                f"  comment {comment['id']}:\n"
                + "\n".join("    " + line for line in comment["body"].splitlines())
            )
        for review in env.github.reviews:
            print(f"  review {review['id']}: {review['event']} {review['commit_id']}")

        total = time.perf_counter() - started
        runner_nodes = [n for n in result.nodes if n.type == "Pod" and n.template_name in _RUNNER_SCRIPTS]
        startup = runner_startup_seconds()  # measured after the wall time was taken
        _section("timings")
        print(f"  wall time: {total:.2f}s (set-up incl. compile {setup:.2f}s, run {run_seconds:.2f}s)")
        print(
            f"  runner start-up: {len(runner_nodes)} runner steps x {startup:.2f}s = "
            f"{len(runner_nodes) * startup:.2f}s, {len(runner_nodes) * startup / run_seconds:.0%} of the run"
        )

        approved = len(env.github.reviews) == 1 and not any("merge" in p for p in env.github.paths())
        ok = result.phase == "Succeeded" and approved
        verdict = "OK" if ok else "FAILED"
        print(f"\n{verdict}: workflow {result.phase}; approving reviews: {len(env.github.reviews)}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
