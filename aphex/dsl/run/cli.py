"""``aphex run FILE...``: run a compiled Workflow or WorkflowTemplate locally (see docs/run.md).

Exit status: 0 when the workflow Succeeded, 1 when it did not, 2 when the run was refused or the input
is unusable (each problem on its own line, naming the field).
"""

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from aphex.dsl.errors import InputError
from aphex.dsl.exit_codes import ExitCode, refuse
from aphex.dsl.run import Fault, LoadError, RunOptions, RunRefused, run_workflow
from aphex.dsl.run.report import report, tree
from aphex.dsl.run.store import RuleError, parse_rule

__all__ = [
    "OptionError",
    "add_arguments",
    "main",
    "options_from_args",
    "parse_fault",
    "parse_resume",
    "parse_set_outputs",
]


class OptionError(InputError):
    """A command-line option is malformed; the message names it."""


def parse_fault(text: str) -> Fault:
    """``NODE`` with optional ``:attempts=N``, ``:phase=Failed|Error`` and ``:exitCode=N`` settings."""
    node, *settings = text.split(":")
    attempts: int | None = None
    exit_code: int | None = None
    phase = "Failed"
    for setting in settings:
        key, _, value = setting.partition("=")
        if key == "attempts" and value.isdigit():
            attempts = int(value)
        elif key == "phase" and value in ("Failed", "Error"):
            phase = value
        elif key == "exitCode" and value.lstrip("-").isdigit() and int(value) != 0:
            exit_code = int(value)
        else:
            raise OptionError(
                f"--fail {text!r}: {setting!r} (use attempts=N, phase=Failed|Error or exitCode=N, N not 0)"
            )
    if not node:
        raise OptionError(f"--fail {text!r}: a node name is required")
    return Fault(node=node, attempts=attempts, phase=phase, exit_code=exit_code)


def parse_resume(values: Sequence[str]) -> dict[str, float]:
    """``--resume NODE[:after=SECONDS]``: node display name -> seconds after it is reached."""
    resume: dict[str, float] = {}
    for text in values:
        node, _, setting = text.partition(":")
        key, _, value = setting.partition("=")
        after = 0.0
        if setting:
            try:
                after = float(value) if key == "after" else -1.0
            except ValueError:
                after = -1.0
            if after < 0:
                raise OptionError(f"--resume {text!r}: {setting!r} (use after=SECONDS)")
        if not node:
            raise OptionError(f"--resume {text!r}: a node name is required")
        resume[node] = after
    return resume


def parse_set_outputs(values: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--set-output NODE:PARAM=VALUE``, as ``argo node set --output-parameter PARAM=VALUE``."""
    outputs: dict[str, dict[str, str]] = {}
    for text in values:
        node, sep, assignment = text.partition(":")
        name, equals, value = assignment.partition("=")
        if not (node and sep and name and equals):
            raise OptionError(f"--set-output {text!r}: expected NODE:PARAM=VALUE")
        outputs.setdefault(node, {})[name] = value
    return outputs


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise OptionError(f"{option} {value!r}: expected KEY=VALUE")
        pairs[key] = rest
    return pairs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``aphex run``."""
    parser.add_argument("paths", nargs="+", type=Path, help="files or directories of compiled YAML")
    parser.add_argument(
        "--template", help="WorkflowTemplate (or Workflow) to run; default: the only Workflow"
    )
    parser.add_argument("--entrypoint", help="template to start from (default: spec.entrypoint)")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workdir", type=Path, help="where nodes, artifacts and the object store live")
    parser.add_argument("--name", help="workflow name (default: generateName or the template name + suffix)")
    parser.add_argument("--namespace", help="workflow namespace (default: metadata.namespace or default)")
    parser.add_argument(
        "--allow-host-commands", action="store_true", help="run container commands on this host"
    )
    parser.add_argument(
        "--standin",
        action="append",
        default=[],
        metavar="IMAGE_OR_TEMPLATE=COMMAND",
        help="run COMMAND instead of the containers of a template name or image",
    )
    parser.add_argument(
        "--resource-rule",
        action="append",
        default=[],
        metavar="RULE",
        help="complete stored objects: kind=K,label:KEY=VALUE,name=PREFIX,phase=P,after=SECONDS",
    )
    parser.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="NODE[:attempts=N][:phase=Error][:exitCode=N]",
        help="force a task or step (by name) to fail: every attempt or its first N; phase=Error makes it "
        "an Error instead of Failed; exitCode=N gives the attempt that exit code (lastRetry.exitCode, "
        "tasks.X.exitCode); a NODE that names no task or step of the run is an error",
    )
    parser.add_argument("--secret", action="append", default=[], metavar="NAME/KEY=VALUE")
    parser.add_argument("--secrets-dir", type=Path, help="secret values as files DIR/<secret>/<key>")
    parser.add_argument("--lock-dir", type=Path, help="directory of mutex lock files shared by local runs")
    parser.add_argument("--report", type=Path, help="write a JSON report of every node")
    parser.add_argument(
        "--resume-suspended",
        action="store_true",
        help="argo resume: every suspend node resumes at once, supplied outputs take their defaults",
    )
    parser.add_argument(
        "--resume",
        action="append",
        default=[],
        metavar="NODE[:after=SECONDS]",
        help="argo resume --node-field-selector displayName=NODE when NODE is reached (or SECONDS later); "
        "a suspend without duration and without answer leaves the run Running (exit 1)",
    )
    parser.add_argument(
        "--set-output",
        action="append",
        default=[],
        metavar="NODE:PARAM=VALUE",
        help="argo node set --output-parameter PARAM=VALUE --node-field-selector displayName=NODE "
        "(a supplied output of a suspend node; it does not resume the node)",
    )
    parser.add_argument("--quiet", action="store_true", help="no live progress lines")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    """Build :class:`RunOptions`; raises :class:`OptionError` or :class:`RuleError`."""
    return RunOptions(
        template=args.template,
        entrypoint=args.entrypoint,
        parameters=_pairs(args.parameter, "-p"),
        workdir=args.workdir,
        workflow_name=args.name,
        namespace=args.namespace,
        allow_host_commands=args.allow_host_commands,
        standins=_pairs(args.standin, "--standin"),
        resource_rules=[parse_rule(rule) for rule in args.resource_rule],
        faults=[parse_fault(fault) for fault in args.fail],
        resume_suspended=args.resume_suspended,
        resume=parse_resume(args.resume),
        set_outputs=parse_set_outputs(args.set_output),
        secrets=_pairs(args.secret, "--secret"),
        secrets_dir=args.secrets_dir,
        lock_dir=args.lock_dir,
        progress=None if args.quiet else lambda line: print(line, flush=True),
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run with parsed arguments; print the tree; return the exit status."""
    try:
        options = options_from_args(args)
        result = run_workflow(args.paths, options)
    except (OptionError, RuleError, LoadError) as error:
        return refuse("aphex run", str(error))
    except RunRefused as refused:
        return refuse("aphex run", [f"refused: {problem}" for problem in refused.problems])
    print()
    print(tree(result), end="")
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report(result), indent=2) + "\n", encoding="utf-8")
    return ExitCode.OK if result.phase == "Succeeded" else ExitCode.PROBLEMS


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aphex.dsl.run.cli``: the same as ``aphex run``."""
    parser = argparse.ArgumentParser(prog="aphex run", description="Run a compiled workflow locally.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
