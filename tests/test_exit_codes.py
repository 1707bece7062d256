"""Every ``aphex`` subcommand keeps one exit-code contract (README.md, "Exit codes"; aphex/dsl/exit_codes.py).

Each case runs the real command line in a fresh process (``python -m aphex.cli``, what the ``aphex`` console
script calls) and pins the exit code and the exact first line of stderr: 0 done, 1 problems found in what
the command checked or ran, 2 unusable input or usage (then nothing is done).
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aphex.dsl.exit_codes import MEANINGS, ExitCode, contract_text

ROOT = Path(__file__).resolve().parents[1]
CONFIG_EXAMPLES = ROOT / "tests" / "dsl" / "config" / "examples"
LINT_INVALID = ROOT / "tests" / "dsl" / "lint" / "corpus" / "invalid" / "cycle.yaml"
VALID_CONFIG = CONFIG_EXAMPLES / "valid-minimal.yaml"
WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf}
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: a, template: ok}
  - name: ok
    container: {image: alpine:3.20, command: ["true"]}
"""
KUBECTL_DOWN = """#!/bin/sh
echo "Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout" >&2
exit 1
"""
KUBECTL_EMPTY = """#!/bin/sh
echo '{"apiVersion": "v1", "kind": "List", "items": []}'
"""


@dataclass(frozen=True, kw_only=True)
class Case:
    """``argv`` and ``files`` may say ``{tmp}`` for the case's directory; so may ``first``."""

    argv: list[str]
    code: ExitCode
    first: str
    """The exact first line of stderr ("" when stderr is empty)."""
    files: dict[str, str] = field(default_factory=dict)
    kubectl: str | None = None
    """A kubectl stand-in put first on PATH (``aphex verify``)."""
    first_is_prefix: bool = False


CASES: dict[str, Case] = {
    # the command line itself
    "no subcommand": Case(
        argv=[], code=ExitCode.UNUSABLE_INPUT, first="usage: aphex [-h] [--version] {", first_is_prefix=True
    ),
    "unknown subcommand": Case(
        argv=["deploy"],
        code=ExitCode.UNUSABLE_INPUT,
        first="usage: aphex [-h] [--version] {",
        first_is_prefix=True,
    ),
    "version": Case(argv=["--version"], code=ExitCode.OK, first=""),
    # aphex compile
    "compile without --out": Case(
        argv=["compile"],
        code=ExitCode.UNUSABLE_INPUT,
        first="usage: aphex compile [-h] --out OUT",
        first_is_prefix=True,
    ),
    "compile, missing values file": Case(
        argv=["compile", "--out", "{tmp}/out", "--values", "{tmp}/nope.yaml"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: cannot read values file {tmp}/nope.yaml: No such file or directory",
    ),
    "compile, values not YAML": Case(
        argv=["compile", "--out", "{tmp}/out", "--values", "{tmp}/values.yaml"],
        files={"values.yaml": "instance: [unclosed"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: values file {tmp}/values.yaml: not valid YAML: line 2, column 1: "
        "did not find expected ',' or ']'",
    ),
    "compile, values not a mapping": Case(
        argv=["compile", "--out", "{tmp}/out", "--values", "{tmp}/values.yaml"],
        files={"values.yaml": "- instance\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: values file {tmp}/values.yaml: must be a mapping",
    ),
    "compile, invalid values (one line each)": Case(
        argv=["compile", "--out", "{tmp}/out", "--values", "{tmp}/values.yaml"],
        files={"values.yaml": "previewPodSecurity: privileged\nevents: {webhookPort: 80}\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: {tmp}/values.yaml: events.webhookPort: must be at least 1024",
    ),
    "compile, unknown values key": Case(
        argv=["compile", "--out", "{tmp}/out", "--values", "{tmp}/values.yaml"],
        files={"values.yaml": "namespce: argo\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: {tmp}/values.yaml: namespce: unknown field (did you mean namespace?)",
    ),
    "compile, invalid --release": Case(
        argv=["compile", "--out", "{tmp}/out", "--release", "Team_A"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: release name 'Team_A': must be a DNS label (a-z, 0-9, inner '-')",
    ),
    "compile --pipeline-only without --config": Case(
        argv=["compile", "--out", "{tmp}/out", "--pipeline-only"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: --pipeline-only needs --config",
    ),
    "compile, missing --config file": Case(
        argv=["compile", "--out", "{tmp}/out", "--config", "{tmp}/aphex-config.yaml"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: {tmp}/aphex-config.yaml: cannot read: No such file or directory",
    ),
    "compile, invalid --config": Case(
        argv=[
            "compile",
            "--out",
            "{tmp}/out",
            "--config",
            str(CONFIG_EXAMPLES / "invalid-account-integer.yaml"),
        ],
        code=ExitCode.UNUSABLE_INPUT,
        first=f"aphex compile: {CONFIG_EXAMPLES / 'invalid-account-integer.yaml'}: environments[1].account: "
        "must be 12 digits as a string",
    ),
    "compile into a directory aphex did not write": Case(
        argv=["compile", "--out", "{tmp}/mine"],
        files={"mine/notes.txt": "keep me\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex compile: {tmp}/mine",
        first_is_prefix=True,
    ),
    "compile": Case(argv=["compile", "--out", "{tmp}/out"], code=ExitCode.OK, first=""),
    # aphex chart
    "chart into a directory aphex did not write": Case(
        argv=["chart", "--out", "{tmp}/mine"],
        files={"mine/notes.txt": "keep me\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex chart: {tmp}/mine",
        first_is_prefix=True,
    ),
    # aphex lint
    "lint, missing path": Case(
        argv=["lint", "{tmp}/nope.yaml"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex lint: {tmp}/nope.yaml: no such file or directory",
    ),
    "lint, not YAML": Case(
        argv=["lint", "{tmp}/wf.yaml"],
        files={"wf.yaml": "kind: [unclosed"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex lint: {tmp}/wf.yaml: not valid YAML: line 2, column 1: did not find expected ',' or ']'",
    ),
    "lint, findings": Case(argv=["lint", str(LINT_INVALID)], code=ExitCode.PROBLEMS, first=""),
    "lint": Case(argv=["lint", "{tmp}/wf.yaml"], files={"wf.yaml": WORKFLOW}, code=ExitCode.OK, first=""),
    # aphex config validate
    "config validate, missing file": Case(
        argv=["config", "validate", "{tmp}/aphex-config.yaml"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex config validate: {tmp}/aphex-config.yaml: cannot read: No such file or directory",
    ),
    "config validate, not YAML": Case(
        argv=["config", "validate", "{tmp}/aphex-config.yaml"],
        files={"aphex-config.yaml": "version: [unclosed"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex config validate: {tmp}/aphex-config.yaml: not valid YAML: line 2, column 1: "
        "did not find expected ',' or ']'",
    ),
    "config validate, problems": Case(
        argv=["config", "validate", str(CONFIG_EXAMPLES / "invalid-unknown-key.yaml")],
        code=ExitCode.PROBLEMS,
        first="",
    ),
    "config validate": Case(argv=["config", "validate", str(VALID_CONFIG)], code=ExitCode.OK, first=""),
    # aphex run
    "run, missing workflow file": Case(
        argv=["run", "{tmp}/nope.yaml", "--quiet"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex run: {tmp}/nope.yaml: no such file or directory",
    ),
    "run --fail naming no node": Case(
        argv=[
            "run",
            "{tmp}/wf.yaml",
            "--allow-host-commands",
            "--quiet",
            "--fail",
            "b",
            "--workdir",
            "{tmp}/w",
        ],
        files={"wf.yaml": WORKFLOW},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex run: refused: --fail b: no task or step of the run is named 'b'",
    ),
    "run ending Failed": Case(
        argv=[
            "run",
            "{tmp}/wf.yaml",
            "--allow-host-commands",
            "--quiet",
            "--fail",
            "a",
            "--workdir",
            "{tmp}/w",
        ],
        files={"wf.yaml": WORKFLOW},
        code=ExitCode.PROBLEMS,
        first="",
    ),
    "run": Case(
        argv=["run", "{tmp}/wf.yaml", "--allow-host-commands", "--quiet", "--workdir", "{tmp}/w"],
        files={"wf.yaml": WORKFLOW},
        code=ExitCode.OK,
        first="",
    ),
    # aphex verify
    "verify, invalid option": Case(
        argv=["verify", "--release", "Team_B"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex verify: release name 'Team_B': must be a DNS label (a-z, 0-9, inner '-')",
    ),
    "verify, cluster unreachable": Case(
        argv=["verify"],
        kubectl=KUBECTL_DOWN,
        code=ExitCode.PROBLEMS,
        first="aphex verify: `kubectl get customresourcedefinitions.apiextensions.k8s.io "
        "cronworkflows.argoproj.io eventbus.argoproj.io eventsources.argoproj.io sensors.argoproj.io "
        "workflows.argoproj.io workflowtaskresults.argoproj.io workflowtemplates.argoproj.io "
        "coderuns.agents.platform docsruns.agents.platform --ignore-not-found --output json "
        "--request-timeout=30s` exited 1: "
        "Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout",
    ),
    "verify, prerequisites missing": Case(
        argv=["verify"],
        kubectl=KUBECTL_EMPTY,
        code=ExitCode.PROBLEMS,
        first="aphex verify: the cluster is not ready for aphex, ",
        first_is_prefix=True,
    ),
    # aphex pipeline
    "pipeline without a subcommand": Case(
        argv=["pipeline"],
        code=ExitCode.UNUSABLE_INPUT,
        first="usage: aphex pipeline [-h]",
        first_is_prefix=True,
    ),
    "pipeline values, missing --stack-outputs file": Case(
        argv=["pipeline", "values", "--repository", "shop", "--stack-outputs", "{tmp}/described.json"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex pipeline: --stack-outputs {tmp}/described.json: not the JSON of `aws cloudformation "
        "describe-stacks` ([Errno 2] No such file or directory: '{tmp}/described.json')",
    ),
    "pipeline stack, invalid values": Case(
        argv=[
            "pipeline",
            "stack",
            "--config",
            str(VALID_CONFIG),
            "--release",
            "aphex",
            "--values",
            "{tmp}/values.yaml",
            "--out",
            "{tmp}/stack.json",
        ],
        files={"values.yaml": "namespace: Argo\nnamespce: argo\n"},
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex pipeline: {tmp}/values.yaml: namespace: must match "
        "^$|^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$",
    ),
    "pipeline cluster-stack": Case(
        argv=[
            "pipeline",
            "cluster-stack",
            "--out",
            "{tmp}/cluster.json",
            "--oidc-provider-arn",
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/AB",
        ],
        code=ExitCode.OK,
        first="",
    ),
    # aphex graph
    "graph, unknown workflow": Case(
        argv=["graph", "nope"],
        code=ExitCode.UNUSABLE_INPUT,
        first="aphex graph: no compiled workflow named 'nope' (have: ",
        first_is_prefix=True,
    ),
    "graph": Case(argv=["graph", "implementation-dag"], code=ExitCode.OK, first=""),
}


def _fill(text: str, tmp: Path) -> str:
    return text.replace("{tmp}", str(tmp))


def _aphex(case: Case, tmp: Path) -> subprocess.CompletedProcess[str]:
    for name, content in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(content, encoding="utf-8")
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    if case.kubectl is not None:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(case.kubectl, encoding="utf-8")
        (bin_dir / "kubectl").chmod(0o755)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "aphex.cli", *(_fill(arg, tmp) for arg in case.argv)],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_every_subcommand_keeps_the_exit_code_contract(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    done = _aphex(case, tmp_path)
    first = (done.stderr.splitlines() or [""])[0]
    expected = _fill(case.first, tmp_path)
    assert (done.returncode, first if not case.first_is_prefix else first[: len(expected)]) == (
        case.code,
        expected,
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_refused_output_directories_are_left_untouched(tmp_path: Path) -> None:
    done = _aphex(CASES["compile into a directory aphex did not write"], tmp_path)
    assert done.returncode == ExitCode.UNUSABLE_INPUT
    assert sorted(path.name for path in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_invalid_values_come_one_per_line(tmp_path: Path) -> None:
    """Several values problems: one stderr line each, in document order, each with the rule's limit."""
    done = _aphex(CASES["compile, invalid values (one line each)"], tmp_path)
    assert done.stderr.splitlines() == [
        f"aphex compile: {tmp_path}/values.yaml: events.webhookPort: must be at least 1024",
        f'aphex compile: {tmp_path}/values.yaml: previewPodSecurity: must be one of "restricted", "baseline"',
    ]


def test_help_and_readme_state_the_same_contract() -> None:
    """``aphex --help`` ends with the contract; README.md's table says the same, code by code."""
    done = subprocess.run(
        [sys.executable, "-m", "aphex.cli", "--help"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.endswith("\n" + contract_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\d)` \| (.+?) \|$", readme, re.MULTILINE))
    assert rows == {str(int(code)): meaning for code, meaning in MEANINGS.items()}
