"""The ``aphex`` command line: a contract other tools rely on (README.md, "The aphex command").

Subcommands import what they need lazily: ``aphex lint`` must stay fast and never import Hera, while
``aphex compile`` loads the pipelines. Exit status: 0 success, 1 problems found, 2 unusable input.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _load_values(path: Path | None) -> dict[str, Any]:
    from dsl.settings import SettingsError, read_values_file

    if path is None:
        return {}
    try:
        return read_values_file(path)
    except SettingsError as error:
        print(f"aphex: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _output_refused(out: Path) -> bool:
    """Print why ``out`` may not be replaced (it holds files aphex did not write); True when refused."""
    from dsl.bundle import OutputDirectoryError, check_output_directory

    try:
        check_output_directory(out.resolve())
    except OutputDirectoryError as error:
        print(f"aphex: {error}", file=sys.stderr)
        return True
    return False


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aphex")
    except PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def _compile(args: argparse.Namespace) -> int:
    from dsl.bundle import write_bundle
    from dsl.settings import SettingsError, load_settings
    from workflows.bundle import build_bundle

    if _output_refused(args.out):
        return 2
    values = _load_values(args.values)
    try:
        settings = load_settings(values, release=args.release, release_namespace=args.namespace)
    except SettingsError as error:
        print(f"aphex: {args.values or '--release'}: {error}", file=sys.stderr)
        return 2
    if args.pipeline_only and args.config is None:
        print("aphex: --pipeline-only needs --config", file=sys.stderr)
        return 2
    try:
        objects = [] if args.pipeline_only else build_bundle(settings)
    except SettingsError as error:
        print(f"aphex: {args.values or 'values'}: {error}", file=sys.stderr)
        return 2
    if args.config is not None:
        pipeline = _pipeline_template(args, settings)
        if pipeline is None:
            return 2
        objects.append(pipeline)
    problems = _lint_objects(objects)
    if problems:
        for problem in problems:
            print(problem)
        print(f"aphex: {len(problems)} problem(s) in the compiled bundle; nothing written", file=sys.stderr)
        return 1
    files = write_bundle(objects, args.out)
    print(f"wrote {len(files)} objects to {args.out}")
    return 0


def _pipeline_template(args: argparse.Namespace, settings: Any) -> dict[str, Any] | None:
    """The Aphex pipeline of ``--config`` for its ``pipelines`` entry of the values; None on bad input."""
    from dsl.config.validate import ConfigError, load_config
    from workflows.aphex_pipeline import PipelineError, pipeline_template

    try:
        config = load_config(args.config)
    except ConfigError as error:
        for problem in error.problems:
            print(f"{args.config}: {problem}", file=sys.stderr)
        return None
    except OSError as error:
        print(f"aphex: cannot read {args.config}: {error}", file=sys.stderr)
        return None
    try:
        return pipeline_template(config, settings)
    except PipelineError as error:
        print(f"aphex: {args.values or 'values'}: {error}", file=sys.stderr)
        return None


def _lint_objects(objects: Sequence[dict[str, Any]]) -> list[str]:
    """Lint compiled objects in memory, exactly as ``aphex lint`` would lint the written files."""
    from dsl.bundle import object_path
    from dsl.lint import SourceDocument, lint_documents

    documents = [SourceDocument(file=str(object_path(obj)), index=0, data=obj) for obj in objects]
    return [str(problem) for problem in lint_documents(documents)]


def _lint(args: argparse.Namespace) -> int:
    from dsl.lint.cli import main as lint_main

    return lint_main([str(path) for path in args.paths])


def _graph(args: argparse.Namespace) -> int:
    from dsl.graph import GraphError, mermaid
    from dsl.settings import BundleSettings
    from workflows.bundle import build_bundle

    objects = {obj["metadata"]["name"]: obj for obj in build_bundle(BundleSettings()) if "spec" in obj}
    if args.name not in objects:
        print(
            f"aphex: no compiled workflow named {args.name!r} (have: {', '.join(sorted(objects))})",
            file=sys.stderr,
        )
        return 2
    try:
        print(mermaid(objects[args.name]), end="")
    except GraphError as error:
        print(f"aphex: {error}", file=sys.stderr)
        return 2
    return 0


def _chart(args: argparse.Namespace) -> int:
    from dsl.chart import ChartError, write_chart
    from workflows.bundle import bundle_parts

    if _output_refused(args.out):
        return 2
    try:
        files = write_chart(bundle_parts, args.out)
    except ChartError as error:
        print(f"aphex: cannot generate the chart: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} chart files to {args.out}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from workflows.steps.verify import run_from_args

    return run_from_args(args)


def _run(args: argparse.Namespace) -> int:
    from dsl.run.cli import run_from_args

    return run_from_args(args)


def _pipeline(args: argparse.Namespace) -> int:
    from workflows.pipeline_bootstrap import run_from_args

    return run_from_args(args)


def _config(args: argparse.Namespace) -> int:
    from dsl.config.cli import main as config_main

    return config_main(["validate", str(args.file)])


def _parser() -> argparse.ArgumentParser:
    from dsl.release import add_release_arguments

    parser = argparse.ArgumentParser(prog="aphex", description="Argo-native delivery workflows, compiled.")
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
    from workflows.steps.verify import add_arguments

    add_arguments(verify_cmd)
    verify_cmd.set_defaults(handler=_verify)

    config_cmd = commands.add_parser("config", help="check an application's aphex-config.yaml")
    config_commands = config_cmd.add_subparsers(dest="config_command", required=True)
    validate_cmd = config_commands.add_parser("validate", help="report every problem with its path")
    validate_cmd.add_argument("file", type=Path, help="aphex-config.yaml")
    validate_cmd.set_defaults(handler=_config)

    pipeline_cmd = commands.add_parser(
        "pipeline", help="an Aphex pipeline's CloudFormation templates and values entry (docs/install.md)"
    )
    from workflows.pipeline_bootstrap import add_arguments as add_pipeline_arguments

    add_pipeline_arguments(pipeline_cmd)
    pipeline_cmd.set_defaults(handler=_pipeline)

    run_cmd = commands.add_parser("run", help="run a compiled workflow on this machine (docs/run.md)")
    from dsl.run.cli import add_arguments as add_run_arguments

    add_run_arguments(run_cmd)
    run_cmd.set_defaults(handler=_run)

    graph_cmd = commands.add_parser("graph", help="print a Mermaid diagram of a compiled DAG")
    graph_cmd.add_argument("name", help="WorkflowTemplate name, e.g. implementation-dag")
    graph_cmd.set_defaults(handler=_graph)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aphex`` console script."""
    args = _parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
