"""The import contracts of the layout (``[tool.importlinter]`` in pyproject.toml, run by ``make test``).

They hold for the project (``lint-imports`` in ``make test``); these tests show that each one fails on the
violation it exists for, and that the list of pipeline definitions the steps may not import names every
module of ``aphex.workflows`` but the steps, so a new definition module cannot slip past it. The probe
tree is a package named ``probe`` (the installed ``aphex`` would shadow a second one), checked with the
project's contracts renamed to it.
"""

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    return {contract["type"]: contract for contract in config["contracts"]}


def test_every_pipeline_definition_is_forbidden_to_the_steps() -> None:
    workflows = ROOT / "aphex" / "workflows"
    definitions = sorted(
        f"aphex.workflows.{path.stem}"
        for path in [
            *workflows.glob("*.py"),
            *(p for p in workflows.iterdir() if (p / "__init__.py").is_file()),
        ]
        if path.stem not in {"__init__", "steps"}
    )
    contract = _contracts()["forbidden"]
    assert contract["source_modules"] == ["aphex.workflows.steps"]
    assert sorted(contract["forbidden_modules"]) == definitions


TREE: dict[str, str] = {
    "aphex/__init__.py": "",
    "aphex/cli.py": "import aphex.workflows.bundle\n",
    "aphex/dsl/__init__.py": "",
    "aphex/dsl/names.py": "",
    "aphex/dsl/settings.py": "import aphex.dsl.names\n",
    "aphex/workflows/__init__.py": "",
    "aphex/workflows/steps/__init__.py": "",
    "aphex/workflows/steps/deploy.py": "import aphex.dsl.names\n",
    **{
        f"aphex/workflows/{name.removeprefix('aphex.workflows.')}.py": "import aphex.workflows.steps.deploy\n"
        for name in _contracts()["forbidden"]["forbidden_modules"]
    },
}
VIOLATIONS = {
    "layers": ("aphex/dsl/names.py", "def f():\n    import aphex.workflows.bundle\n"),
    "forbidden": (
        "aphex/workflows/steps/deploy.py",
        "def f():\n    import aphex.workflows.aphex_pipeline.pipeline\n",
    ),
    "acyclic_siblings": ("aphex/dsl/names.py", "def f():\n    import aphex.dsl.settings\n"),
}


def _probe_config() -> str:
    """The project's contracts, every module renamed from ``aphex`` to ``probe``, as an import-linter
    INI file."""
    lines = ["[importlinter]", "root_package = probe"]
    for index, contract in enumerate(_contracts().values()):
        lines.append(f"[importlinter:contract:{index}]")
        for key, value in contract.items():
            if isinstance(value, list):
                renamed = [str(item).replace("aphex", "probe", 1) for item in value]
                lines.append(f"{key} =" + "".join(f"\n    {item}" for item in renamed))
            else:
                lines.append(f"{key} = {str(value).replace('aphex', 'probe') if key != 'name' else value}")
    return "\n".join(lines) + "\n"


def _lint_imports(tree: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    for name, text in tree.items():
        path = tmp_path / name.replace("aphex", "probe", 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("aphex.", "probe."), encoding="utf-8")
    (tmp_path / "contracts.ini").write_text(_probe_config(), encoding="utf-8")
    return subprocess.run(
        [str(LINT_IMPORTS), "contracts.ini", "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_a_tree_that_keeps_the_contracts_passes(tmp_path: Path) -> None:
    done = _lint_imports(TREE, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("kind", list(VIOLATIONS))
def test_each_contract_catches_its_violation(kind: str, tmp_path: Path) -> None:
    """A function-level import counts: a lazy import cannot hide a layer breach or a cycle. (A layer
    breach or a step importing its pipeline is also a cycle, so the cycle contract fails with them.)"""
    module, text = VIOLATIONS[kind]
    done = _lint_imports({**TREE, module: TREE[module] + text}, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{_contracts()[kind]['name']} BROKEN" in done.stdout


CLIENT_LIBRARIES = ("boto3", "botocore.session", "botocore.credentials", "jwt", "kubernetes")


@pytest.mark.parametrize(
    "command",
    [
        ["compile", "--out", "{out}"],
        ["graph", "implementation-dag"],
        ["lint", "{out}"],
    ],
    ids=lambda command: command[0],
)
def test_building_and_checking_the_bundle_imports_no_cloud_client(command: list[str], tmp_path: Path) -> None:
    """The pipeline definitions import the step modules for Hera's runner, but build no AWS, GitHub App
    or Kubernetes client: those libraries are imported where a step builds one
    (aphex.workflows.steps.common.aws, github, kubernetes_api), so aphex compile does not pay for them
    (benchmarks/compile_benchmark.py)."""
    out = tmp_path / "bundle"
    subprocess.run([sys.executable, "-m", "aphex.cli", "compile", "--out", str(out)], check=True)
    argv = [
        part.replace("{out}", str(tmp_path / "again" if command[0] == "compile" else out)) for part in command
    ]
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['aphex', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('aphex.cli', run_name='__main__')\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        f"print(sorted(name for name in {CLIENT_LIBRARIES!r} if name in sys.modules))\n"
    )
    answer = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    assert answer.stdout.splitlines()[-1] == "[]"
