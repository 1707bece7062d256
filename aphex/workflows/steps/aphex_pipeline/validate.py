"""The Aphex pipeline's first stage: check everything a run needs, fail fast with one list of problems.

It validates the workflow parameters of the push, clones the pushed commit
(:func:`aphex.workflows.steps.common.git.clone`), validates that commit's ``aphex-config.yaml`` with
:func:`aphex.dsl.config.load.load_config`, checks that the build tools (``git``, ``node``, ``cdk``,
``bash``) are on ``PATH``, that the CDK context keys each environment requires are set in its app's
``cdk.json`` or ``cdk.context.json``, and that the pipeline's credentials reach every referenced account:
STS ``GetCallerIdentity`` for the pipeline's own identity and, for every environment, the session the
deploy step will use (:func:`aphex.workflows.steps.common.aws.session_for`: the own session, or ``AssumeRole``
on the environment's role) must answer ``GetCallerIdentity`` in the environment's account. Every problem is
collected before the step fails.

It then writes the **plan** of every environment of the running topology: the values the environment's
deploy and test steps take (account, region, role, stack waves from
:meth:`aphex.dsl.config.model.Environment.stack_waves`, hooks, test commands), read from the configuration at
this commit. They leave the step as output parameters ``<environment>_<field>`` (files under
``plan_directory``), so no value of the user's configuration is ever part of the WorkflowTemplate: Argo
hands them to the next steps inside the runner's JSON input. An environment of the running topology that
the commit's configuration no longer has gets ``enabled`` = ``false`` and its stage is skipped; the
self-update stage removes it from the next run's topology.
"""

import json
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Final

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]
from hera.workflows import Parameter

from aphex.dsl.config import ConfigError, load_config
from aphex.dsl.config.cloudformation import PipelineRole
from aphex.dsl.config.model import CONFIG_FILE, AphexConfig, Environment
from aphex.dsl.names import InvalidValue, validate_commit_sha
from aphex.dsl.stage import NETWORK_RETRY, ResourceClass, Stage, StepImage
from aphex.workflows.steps.common.aws import pod_session, session_for
from aphex.workflows.steps.common.exits import fail
from aphex.workflows.steps.common.git import clone, validate_branch
from aphex.workflows.steps.common.process import StepError
from aphex.workflows.steps.common.scratch import scratch

__all__ = [
    "PLAN_FIELDS",
    "REQUIRED_TOOLS",
    "STAGE",
    "ValidationFailed",
    "check_credentials",
    "check_parameters",
    "check_tools",
    "context_problems",
    "environment_plan",
    "plan_output_name",
    "validate",
    "write_plans",
]

REQUIRED_TOOLS: Final = ("git", "node", "cdk", "bash")
PLAN_FIELDS: Final = (
    "enabled",
    "account",
    "region",
    "role",
    "stacks",
    "app-directory",
    "pre-deploy",
    "post-deploy",
    "has-tests",
    "tests",
    "test-timeout",
)
"""The output parameters written for each environment, as ``<environment>_<field>``."""
DEFAULT_TEST_TIMEOUT: Final = 1800

_REPO_URL = re.compile(r"^(?:https://[A-Za-z0-9.-]+(?::[0-9]+)?/|file:///)[A-Za-z0-9._~/-]+$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PUSHER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$|^$")
_ENVIRONMENT = re.compile(r"^[a-z0-9-]{1,40}$")


class ValidationFailed(StepError):
    """The run cannot start; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} problem(s): " + "; ".join(self.problems))


def plan_output_name(environment: str, field: str) -> str:
    """The output parameter of one plan field: ``<environment>_<field>`` (names never hold ``_``)."""
    return f"{environment}_{field}"


def check_parameters(
    *, commit_sha: str, branch: str, repo_url: str, repo_name: str, pusher: str
) -> list[str]:
    """Problems of the push's parameters, each naming the parameter."""
    problems = []
    try:
        validate_commit_sha(commit_sha, "commit-sha", allow_empty=False)
        if len(commit_sha) != 40:
            raise InvalidValue("commit-sha", commit_sha, "must be a 40-character hex commit id")
    except InvalidValue as error:
        problems.append(str(error))
    try:
        validate_branch(branch)
    except InvalidValue as error:
        problems.append(str(error))
    if not _REPO_URL.match(repo_url) or ".." in repo_url:
        problems.append(str(InvalidValue("repo-url", repo_url, "must be an https:// repository URL")))
    if not _REPO_NAME.match(repo_name):
        problems.append(str(InvalidValue("repo-name", repo_name, "must be <owner>/<repository>")))
    if not _PUSHER.match(pusher):
        problems.append(str(InvalidValue("pusher", pusher, "must be a GitHub login")))
    return problems


def check_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """One problem per build tool missing from ``PATH``."""
    return [f"tools: `{tool}` is not on PATH" for tool in REQUIRED_TOOLS if which(tool) is None]


def _app_directory(environment: Environment) -> str | None:
    paths = {stack.path for stack in environment.stacks}
    return paths.pop() if len(paths) == 1 else None


def _context_keys(app: Path) -> set[str]:
    keys: set[str] = set()
    for name, section in (("cdk.json", "context"), ("cdk.context.json", None)):
        path = app / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if section is not None:
            data = data.get(section) if isinstance(data, dict) else None
        if isinstance(data, dict):
            keys.update(str(key) for key in data)
    return keys


def context_problems(config: AphexConfig, checkout: Path) -> list[str]:
    """Required CDK context keys missing from the app's ``cdk.json`` (``context``) and ``cdk.context.json``;
    also environments whose stacks are not in one CDK app (the deploy step runs one app per environment)."""
    problems = []
    for index, environment in enumerate(config.environments):
        app = _app_directory(environment)
        if app is None:
            problems.append(
                f"environments[{index}].stacks: every stack of {environment.name} must have the same "
                "`path` (one CDK app per environment)"
            )
            continue
        if not environment.cdk_context.required:
            continue
        present = _context_keys(checkout / app)
        for key in environment.cdk_context.required:
            if key not in present:
                problems.append(
                    f"environments[{index}].cdkContext.required: {key!r} is not set in "
                    f"{app}/cdk.json or {app}/cdk.context.json at this commit"
                )
    return problems


def _account_of(session: Any) -> str:
    return str(session.client("sts").get_caller_identity()["Account"])


def check_credentials(config: AphexConfig, *, pipeline_session: Any) -> tuple[str, list[str]]:
    """The pipeline's account and the problems of reaching each environment's account."""
    try:
        pipeline_account = _account_of(pipeline_session)
    except (BotoCoreError, ClientError) as error:
        return "", [f"credentials: the pipeline has no working AWS identity: {error}"]
    problems = []
    for index, environment in enumerate(config.environments):
        try:
            session = session_for(
                environment.account,
                environment.region,
                environment.role_arn or "",
                pipeline_account=pipeline_account,
                workflow_name=f"aphex-validate-{environment.name}",
            )
            reached = _account_of(session)
        except (BotoCoreError, ClientError, InvalidValue) as error:
            problems.append(
                f"environments[{index}]: the pipeline cannot reach account {environment.account} "
                f"({environment.name}): {error}"
            )
            continue
        if reached != environment.account:
            problems.append(
                f"environments[{index}]: the credentials for {environment.name} belong to account "
                f"{reached}, not {environment.account}"
            )
    return pipeline_account, problems


def environment_plan(environment: Environment | None) -> dict[str, str]:
    """The plan fields of one environment (``None``: absent at this commit, its stage is skipped)."""
    if environment is None:
        return {
            "enabled": "false",
            "account": "",
            "region": "",
            "role": "",
            "stacks": "[]",
            "app-directory": ".",
            "pre-deploy": "[]",
            "post-deploy": "[]",
            "has-tests": "false",
            "tests": "[]",
            "test-timeout": str(DEFAULT_TEST_TIMEOUT),
        }
    tests = environment.tests
    return {
        "enabled": "true",
        "account": environment.account,
        "region": environment.region,
        "role": environment.role_arn or "",
        "stacks": json.dumps(environment.stack_waves()),
        "app-directory": _app_directory(environment) or ".",
        "pre-deploy": json.dumps(list(environment.hooks.pre_deploy)),
        "post-deploy": json.dumps(list(environment.hooks.post_deploy)),
        "has-tests": "true" if tests else "false",
        "tests": json.dumps(list(tests.commands) if tests else []),
        "test-timeout": str(
            tests.timeout_seconds if tests and tests.timeout_seconds else DEFAULT_TEST_TIMEOUT
        ),
    }


def write_plans(config: AphexConfig, environments: Sequence[str], directory: Path) -> None:
    """Write ``<directory>/<environment>/<field>`` for every environment of the running topology."""
    known = {environment.name: environment for environment in config.environments}
    for name in environments:
        target = directory / name
        target.mkdir(parents=True, exist_ok=True)
        for field, value in environment_plan(known.get(name)).items():
            (target / field).write_text(value, encoding="utf-8")


def _environments(value: str) -> list[str]:
    try:
        names = json.loads(value)
    except json.JSONDecodeError:
        raise InvalidValue("environments", value, "must be a JSON list of environment names") from None
    if not isinstance(names, list) or not all(isinstance(n, str) and _ENVIRONMENT.match(n) for n in names):
        raise InvalidValue("environments", value, "must be a JSON list of environment names")
    return names


def run_validation(
    *,
    commit_sha: str,
    branch: str,
    repo_url: str,
    repo_name: str,
    pusher: str,
    environments: str,
    plan_directory: Path,
    pipeline_session: Any,
    which: Callable[[str], str | None] = shutil.which,
    checkout: Path | None = None,
) -> str:
    """Check everything, write the plans; return the pipeline's account or raise :class:`ValidationFailed`."""
    problems = check_parameters(
        commit_sha=commit_sha, branch=branch, repo_url=repo_url, repo_name=repo_name, pusher=pusher
    )
    try:
        compiled = _environments(environments)
    except InvalidValue as error:
        problems.append(str(error))
        compiled = []
    problems += check_tools(which)
    config: AphexConfig | None = None
    if not problems:
        target = checkout or scratch("validate-") / "checkout"
        try:
            clone(repo_url, commit_sha, target)
            config = load_config(target / CONFIG_FILE)
        except ConfigError as error:
            problems += [f"{CONFIG_FILE}: {problem}" for problem in error.problems]
        except (InvalidValue, StepError, OSError) as error:
            problems.append(f"{CONFIG_FILE}: {error}")
        if config is not None:
            problems += context_problems(config, target)
    pipeline_account = ""
    if config is not None:
        pipeline_account, credential_problems = check_credentials(config, pipeline_session=pipeline_session)
        problems += credential_problems
    if problems or config is None:
        raise ValidationFailed(problems)
    write_plans(config, compiled, plan_directory)
    return pipeline_account


def _session() -> Any:
    return pod_session()


def validate(
    commit_sha: str,
    branch: str,
    repo_url: str,
    repo_name: str,
    pusher: str,
    environments: str,
    plan_directory: str,
) -> Annotated[str, Parameter(name="pipeline-account")]:
    """Runner entrypoint: validate the run and write the environments' plans; outputs the pipeline account."""
    try:
        return run_validation(
            commit_sha=commit_sha,
            branch=branch,
            repo_url=repo_url,
            repo_name=repo_name,
            pusher=pusher,
            environments=environments,
            plan_directory=Path(plan_directory),
            pipeline_session=_session(),
        )
    except ValidationFailed as error:
        lines = [
            f"the run cannot start: {len(error.problems)} problem(s)",
            *(f"- {p}" for p in error.problems),
        ]
        raise fail(StepError("\n".join(lines))) from None


STAGE: Final = Stage(
    entrypoint=validate,
    name="validate",
    resources=ResourceClass.STANDARD,
    timeout="15m",
    retry=NETWORK_RETRY,
    account=PipelineRole.DEPLOY.value,
    image=StepImage.BUILDER,
)
