"""The ``aphex`` command line: a contract other tools rely on (README.md, "The aphex command").

Subcommands import what they need lazily: ``aphex lint`` must stay fast and never import Hera, while
``aphex compile`` loads the pipelines. Every subcommand keeps one exit-code contract
(:mod:`aphex.dsl.exit_codes`): 0 ok, 1 problems found, 2 unusable input or usage.
"""

import argparse
import gc
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from aphex.dsl.exit_codes import ExitCode, UnusableInput, contract_text, refuse

__all__ = ["main"]


def _values(args: argparse.Namespace) -> dict[str, Any]:
    """The values of ``--values`` (none: empty)."""
    from aphex.dsl.settings import SettingsError, read_values_file

    try:
        return {} if args.values is None else read_values_file(args.values)
    except SettingsError as error:
        raise UnusableInput(error.problems) from None


def _settings_refused(args: argparse.Namespace, problems: Sequence[str]) -> UnusableInput:
    """Settings problems, each line naming the values file they come from (if any)."""
    prefix = f"{args.values}: " if args.values is not None else ""
    return UnusableInput([f"{prefix}{problem}" for problem in problems])


def _check_output(out: Path) -> None:
    """Refuse ``out`` unless aphex may replace it (it holds no files aphex did not write)."""
    from aphex.dsl.bundle_writer import OutputDirectoryError, check_output_directory

    try:
        check_output_directory(out.resolve())
    except OutputDirectoryError as error:
        raise UnusableInput(str(error)) from None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aphex")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _compile(args: argparse.Namespace) -> int:
    from aphex.dsl.bundle_writer import write_bundle
    from aphex.dsl.settings import SettingsError, load_settings
    from aphex.workflows.bundle import build_bundle

    if args.pipeline_only and args.config is None:
        raise UnusableInput("--pipeline-only needs --config")
    _check_output(args.out)
    try:
        settings = load_settings(_values(args), release=args.release, release_namespace=args.namespace)
        objects = [] if args.pipeline_only else build_bundle(settings)
    except SettingsError as error:
        raise _settings_refused(args, error.problems) from None
    if args.config is not None:
        objects.append(_pipeline_template(args, settings))
    problems = _lint_objects(objects)
    if problems:
        for problem in problems:
            print(problem)
        print(
            f"aphex compile: {len(problems)} problem(s) in the compiled bundle; nothing written",
            file=sys.stderr,
        )
        return ExitCode.PROBLEMS
    files = write_bundle(objects, args.out)
    print(f"wrote {len(files)} objects to {args.out}")
    return ExitCode.OK


def _pipeline_template(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    """The Aphex pipeline of ``--config`` for its ``pipelines`` entry of the values."""
    from aphex.dsl.config import ConfigError, load_config
    from aphex.dsl.config.resources import PipelineError
    from aphex.workflows.aphex_pipeline.pipeline import pipeline_template

    try:
        config = load_config(args.config)
    except ConfigError as error:
        raise UnusableInput([f"{args.config}: {problem}" for problem in error.problems]) from None
    except OSError as error:
        raise UnusableInput(f"{args.config}: cannot read: {error.strerror or type(error).__name__}") from None
    try:
        return pipeline_template(config, settings)
    except PipelineError as error:
        raise _settings_refused(args, [str(error)]) from None


def _lint_objects(objects: Sequence[dict[str, Any]]) -> list[str]:
    """Lint compiled objects in memory, exactly as ``aphex lint`` would lint the written files."""
    from aphex.dsl.bundle_writer import object_path
    from aphex.dsl.lint import SourceDocument, lint_documents

    documents = [SourceDocument(file=str(object_path(obj)), index=0, data=obj) for obj in objects]
    return [str(problem) for problem in lint_documents(documents)]


def _lint(args: argparse.Namespace) -> int:
    from aphex.dsl.lint.cli import main as lint_main

    return lint_main([str(path) for path in args.paths])


def _graph(args: argparse.Namespace) -> int:
    from aphex.dsl.graph import GraphError, mermaid
    from aphex.dsl.settings import BundleSettings
    from aphex.workflows.bundle import build_bundle

    objects = {obj["metadata"]["name"]: obj for obj in build_bundle(BundleSettings()) if "spec" in obj}
    if args.name not in objects:
        raise UnusableInput(f"no compiled workflow named {args.name!r} (have: {', '.join(sorted(objects))})")
    try:
        print(mermaid(objects[args.name]), end="")
    except GraphError as error:
        raise UnusableInput(str(error)) from None
    return ExitCode.OK


def _chart(args: argparse.Namespace) -> int:
    from aphex.dsl.chart import ChartError, write_chart
    from aphex.workflows.bundle import bundle_parts

    _check_output(args.out)
    try:
        files = write_chart(bundle_parts, args.out)
    except ChartError as error:
        print(f"aphex chart: cannot generate the chart: {error}", file=sys.stderr)
        return ExitCode.PROBLEMS
    print(f"wrote {len(files)} chart files to {args.out}")
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> int:
    """``aphex verify``: print the checks the values require
    (:func:`aphex.workflows.verify_parts.required_checks`) with ``--list``, or run them with the user's
    kubectl context; an unreachable cluster is a problem found (exit 1), since the cluster is what is
    checked."""
    from aphex.dsl.settings import SettingsError, load_settings
    from aphex.workflows.steps.cluster_verify.checks import check_cluster, merge_checks
    from aphex.workflows.steps.common.process import StepError
    from aphex.workflows.verify_parts import required_checks

    values = _values(args)
    if args.context is not None and not args.context.strip():
        raise UnusableInput("--context: must not be empty")
    try:
        settings = load_settings(values, release=args.release, release_namespace=args.namespace)
    except SettingsError as error:
        raise _settings_refused(args, error.problems) from None
    checks = required_checks(settings)
    if args.list:
        for check in merge_checks(checks):
            print(f"{check.where} {check.because()}")
        return ExitCode.OK
    kubectl = ["kubectl", *(["--context", args.context] if args.context else [])]
    try:
        print(check_cluster(checks, kubectl=kubectl))
    except StepError as error:
        print(f"aphex verify: {error}", file=sys.stderr)
        return ExitCode.PROBLEMS
    return ExitCode.OK


def _run(args: argparse.Namespace) -> int:
    from aphex.dsl.run.cli import run_from_args

    return run_from_args(args)


def _pipeline(args: argparse.Namespace) -> int:
    from aphex.workflows.aphex_pipeline.bootstrap import run_from_args

    return run_from_args(args)


def _config(args: argparse.Namespace) -> int:
    from aphex.dsl.config.cli import main as config_main

    return config_main(["validate", *(str(file) for file in args.files)])


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line parser; the options of ``pipeline`` and ``run`` only when ``command`` is one of
    them or None (every command's options)."""
    from aphex.dsl.release import add_release_arguments

    parser = argparse.ArgumentParser(
        prog="aphex",
        description="Argo-native delivery workflows, compiled.",
        epilog=contract_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"aphex {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    compile_cmd = commands.add_parser("compile", help="write every object of the bundle as plain YAML")
    compile_cmd.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    compile_cmd.add_argument("--values", type=Path, help="per-cluster settings (values.yaml keys)")
    add_release_arguments(compile_cmd, required=False)
    compile_cmd.add_argument(
        "--config",
        type=Path,
        help="an application's aphex-config.yaml: add its Aphex pipeline (needs its entry in pipelines)",
    )
    compile_cmd.add_argument(
        "--pipeline-only",
        action="store_true",
        help="with --config: write only the pipeline's WorkflowTemplate (the chart installs the rest)",
    )
    compile_cmd.set_defaults(handler=_compile)

    chart_cmd = commands.add_parser("chart", help="regenerate the Helm chart from the same objects")
    chart_cmd.add_argument("--out", type=Path, default=Path("helm/aphex"), help="chart directory (replaced)")
    chart_cmd.set_defaults(handler=_chart)

    lint_cmd = commands.add_parser("lint", help="validate Argo YAML offline, as argo lint --offline does")
    lint_cmd.add_argument("paths", nargs="+", type=Path, help="files or directories")
    lint_cmd.set_defaults(handler=_lint)

    verify_cmd = commands.add_parser(
        "verify", help="check that the cluster (current kubectl context) has what aphex needs"
    )
    verify_cmd.add_argument(
        "--values",
        type=Path,
        help="the values the bundle was installed with (helm -f / aphex compile --values); default: none",
    )
    add_release_arguments(verify_cmd, required=False)
    verify_cmd.add_argument("--context", help="kubeconfig context to use (default: the current context)")
    verify_cmd.add_argument(
        "--list", action="store_true", help="print the checks these values require and touch no cluster"
    )
    verify_cmd.set_defaults(handler=_verify)

    config_cmd = commands.add_parser("config", help="check an application's aphex-config.yaml")
    config_commands = config_cmd.add_subparsers(dest="config_command", required=True)
    validate_cmd = config_commands.add_parser("validate", help="report every problem with its path")
    validate_cmd.add_argument("files", nargs="+", type=Path, metavar="FILE", help="aphex-config.yaml files")
    validate_cmd.set_defaults(handler=_config)

    # The options of these two come from modules only they need: other commands do not import them.
    pipeline_cmd = commands.add_parser(
        "pipeline", help="an Aphex pipeline's CloudFormation templates and values entry (docs/install.md)"
    )
    if command in (None, "pipeline"):
        from aphex.workflows.aphex_pipeline.bootstrap import add_arguments as add_pipeline_arguments

        add_pipeline_arguments(pipeline_cmd)
    pipeline_cmd.set_defaults(handler=_pipeline)

    run_cmd = commands.add_parser("run", help="run a compiled workflow on this machine (docs/run.md)")
    if command in (None, "run"):
        from aphex.dsl.run.cli import add_arguments as add_run_arguments

        add_run_arguments(run_cmd)
    run_cmd.set_defaults(handler=_run)

    graph_cmd = commands.add_parser("graph", help="print a Mermaid diagram of a compiled DAG")
    graph_cmd.add_argument("name", help="WorkflowTemplate name, e.g. implementation-dag")
    graph_cmd.set_defaults(handler=_graph)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aphex`` console script: the exit status of :class:`ExitCode`."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = next((argument for argument in arguments if not argument.startswith("-")), None)
    args = _parser(command).parse_args(arguments)
    try:
        return int(args.handler(args))
    except UnusableInput as error:
        return refuse(f"aphex {args.command}", error.lines)


def run() -> NoReturn:
    """The ``aphex`` console script: :func:`main`, then exit with its status.

    The process ends right after the command, so the objects it made are moved out of the collector's
    sight first (:func:`gc.freeze`): the interpreter's collections at exit would otherwise walk every
    one of them, which costs a compile a fifth of its time (benchmarks/compile_benchmark.py). Exit
    handlers and the flushing of output still run; nothing of aphex waits on a collection to finish.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
