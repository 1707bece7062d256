"""``aphex pipeline``: the CloudFormation templates an Aphex pipeline needs, and its values entry.

- ``cluster-stack --cluster C --oidc-provider-arn ARN --out FILE``: the stack exporting the cluster's OIDC
  provider ARN (:func:`aphex.dsl.config.cloudformation.cluster_export_template`), once per cluster;
- ``stack --config aphex-config.yaml --release R [--values V] [--cluster C] --out FILE``: the pipeline's
  bucket and stage roles (:func:`aphex.dsl.config.cloudformation.pipeline_resources_template`), for the stack
  named on stderr;
- ``self-update-stack`` (same arguments): the self-update role
  (:func:`aphex.dsl.config.cloudformation.self_update_template`);
- ``values --stack-outputs FILE [--stack-outputs FILE] --repository NAME``: reads the JSON of
  ``aws cloudformation describe-stacks`` of the two stacks and prints the ``pipelines`` entry of the
  values file, checked against the values schema.

Exit status (:mod:`aphex.dsl.exit_codes`): 0 written, 2 unusable input (each line on stderr names one
problem).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from aphex.dsl.config import ConfigError, load_config
from aphex.dsl.config.cloudformation import (
    SELF_UPDATE_OUTPUT,
    cluster_export_template,
    pipeline_resources_template,
    pipeline_stack_name,
    self_update_stack_name,
    self_update_template,
)
from aphex.dsl.config.resources import PipelineError, PipelineResources, pipeline_id
from aphex.dsl.exit_codes import ExitCode, UnusableInput, refuse
from aphex.dsl.names import InvalidValue
from aphex.dsl.release import add_release_arguments
from aphex.dsl.settings import SettingsError, load_settings, read_values_file

__all__ = ["add_arguments", "pipeline_entry", "run_from_args"]


def _write(path: Path, template: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _pipeline_names(args: argparse.Namespace) -> tuple[Any, str, str]:
    """The configuration, the pipeline's id (``<release>-<name>``) and its namespace."""
    try:
        values = {} if args.values is None else read_values_file(args.values)
    except SettingsError as error:
        raise UnusableInput(error.problems) from None
    try:
        settings = load_settings(values, release=args.release, release_namespace=args.namespace)
    except SettingsError as error:
        prefix = f"{args.values}: " if args.values is not None else ""
        raise UnusableInput([f"{prefix}{problem}" for problem in error.problems]) from None
    try:
        config = load_config(args.config)
    except ConfigError as error:
        raise UnusableInput([f"{args.config}: {problem}" for problem in error.problems]) from None
    except OSError as error:
        raise UnusableInput(f"{args.config}: cannot read: {error.strerror or type(error).__name__}") from None
    try:
        return config, pipeline_id(config, settings), settings.namespace
    except PipelineError as error:
        raise UnusableInput(str(error)) from None


def _stack(args: argparse.Namespace) -> None:
    config, identity, namespace = _pipeline_names(args)
    template = pipeline_resources_template(
        config, pipeline_name=identity, namespace=namespace, cluster=args.cluster
    )
    _write(args.out, template)
    print(f"wrote the template of stack {pipeline_stack_name(identity, args.cluster)} to {args.out}")


def _self_update_stack(args: argparse.Namespace) -> None:
    config, identity, namespace = _pipeline_names(args)
    template = self_update_template(config, pipeline_name=identity, namespace=namespace, cluster=args.cluster)
    _write(args.out, template)
    print(f"wrote the template of stack {self_update_stack_name(identity, args.cluster)} to {args.out}")


def _cluster_stack(args: argparse.Namespace) -> None:
    _write(args.out, cluster_export_template(args.cluster, args.oidc_provider_arn))
    print(f"wrote the cluster's OIDC export template to {args.out}")


def _outputs(path: Path) -> list[dict[str, str]]:
    """Every stack's outputs in a ``describe-stacks`` answer."""
    try:
        answer = json.loads(path.read_text(encoding="utf-8"))
        stacks = answer["Stacks"]
        return [
            {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs") or []}
            for stack in stacks
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UnusableInput(
            f"--stack-outputs {path}: not the JSON of `aws cloudformation describe-stacks` ({error})"
        ) from None


def _one(found: list[dict[str, str]], key: str, what: str) -> dict[str, str]:
    if len(found) != 1:
        raise UnusableInput(
            f"--stack-outputs: expected exactly one {what} (a stack with output {key}), found {len(found)}"
        )
    return found[0]


def pipeline_entry(stacks: list[dict[str, str]], repository: str) -> dict[str, Any]:
    """The ``pipelines`` entry from the outputs of the pipeline stack and the self-update stack,
    validated as the chart validates it."""
    pipeline = _one(
        [s for s in stacks if "WorkflowTemplateName" in s], "WorkflowTemplateName", "pipeline stack"
    )
    self_update = _one(
        [s for s in stacks if SELF_UPDATE_OUTPUT in s], SELF_UPDATE_OUTPUT, "self-update stack"
    )
    try:
        resources = PipelineResources.from_stack_outputs(
            pipeline, self_update_role_arn=self_update[SELF_UPDATE_OUTPUT]
        )
    except PipelineError as error:
        raise UnusableInput(f"--stack-outputs: {error}") from None
    entry: dict[str, Any] = {
        "name": pipeline["WorkflowTemplateName"],
        "repository": repository,
        "artifactBucket": resources.artifact_bucket,
        "roleArns": {
            "build": resources.build_role_arn,
            "deploy": resources.deploy_role_arn,
            "monitor": resources.monitor_role_arn,
            "selfUpdate": self_update[SELF_UPDATE_OUTPUT],
        },
    }
    if resources.cluster:
        entry["cluster"] = resources.cluster
    try:
        load_settings({"pipelines": [entry]})
    except SettingsError as error:
        raise UnusableInput(error.problems) from None
    return entry


def _values(args: argparse.Namespace) -> None:
    stacks = [outputs for path in args.stack_outputs for outputs in _outputs(path)]
    entry = pipeline_entry(stacks, args.repository)
    sys.stdout.write(yaml.safe_dump([entry], sort_keys=False))


def _stack_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, required=True, help="the repository's aphex-config.yaml")
    add_release_arguments(command, required=True)
    command.add_argument("--values", type=Path, help="the release's values (for its namespace)")
    command.add_argument("--cluster", default="", help="the cluster, in stack and export names")
    command.add_argument("--out", type=Path, required=True, help="the template file to write (JSON)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of ``aphex pipeline``."""
    commands = parser.add_subparsers(dest="pipeline_command", required=True)
    cluster = commands.add_parser("cluster-stack", help="the stack exporting the cluster's OIDC provider")
    cluster.add_argument("--cluster", default="", help="the cluster, in the export's name")
    cluster.add_argument("--oidc-provider-arn", required=True, help="the cluster's IAM OIDC provider")
    cluster.add_argument("--out", type=Path, required=True, help="the template file to write (JSON)")
    cluster.set_defaults(pipeline_handler=_cluster_stack)
    stack = commands.add_parser("stack", help="the pipeline's bucket and stage roles")
    _stack_arguments(stack)
    stack.set_defaults(pipeline_handler=_stack)
    self_update = commands.add_parser("self-update-stack", help="the pipeline's self-update role")
    _stack_arguments(self_update)
    self_update.set_defaults(pipeline_handler=_self_update_stack)
    values = commands.add_parser("values", help="print the pipelines entry from the stacks' outputs")
    values.add_argument(
        "--stack-outputs",
        type=Path,
        action="append",
        required=True,
        help="JSON of `aws cloudformation describe-stacks` (repeat for the self-update stack)",
    )
    values.add_argument("--repository", required=True, help="repository of events.githubOwner")
    values.set_defaults(pipeline_handler=_values)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; 2 with the reasons on stderr when an input is unusable."""
    try:
        args.pipeline_handler(args)
    except UnusableInput as error:
        return refuse("aphex pipeline", error.lines)
    except InvalidValue as error:
        return refuse("aphex pipeline", str(error))
    return ExitCode.OK
