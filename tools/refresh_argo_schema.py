"""Refresh ``dsl/lint/argo_schema.json`` from Argo Workflows' published JSON schema (a development tool).

Argo publishes the JSON schema of its API, Kubernetes types included, as ``api/jsonschema/schema.json``
in its repository. This script reads it from a local checkout (or from a git repository at a ref), keeps
only the definitions reachable from the kinds ``aphex lint`` checks (Workflow, WorkflowTemplate,
ClusterWorkflowTemplate, CronWorkflow), drops descriptions and titles, and writes the result with the
Argo version and source commit it came from::

    python tools/refresh_argo_schema.py PATH/TO/argo-workflows            # a checkout (its HEAD)
    python tools/refresh_argo_schema.py PATH/TO/argo-workflows.git --ref v4.1.2

The version is the ref given, else the tag ``git describe --tags`` finds; ``--version`` and ``--commit``
name them when the checkout is not a git repository (an extracted release archive).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "dsl" / "lint" / "argo_schema.json"
SOURCE_PATH = "api/jsonschema/schema.json"
PREFIX = "io.argoproj.workflow.v1alpha1."
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
_DROPPED = {
    "description",
    "title",
    "x-kubernetes-group-version-kind",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-unions",
    "format",
    "readOnly",
    "default",
}


def _git(repository: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repository), *args], check=True, capture_output=True, text=True)
    return result.stdout.strip()


def _strip(node: Any) -> Any:
    """The node without documentation: only what decides validity stays."""
    if isinstance(node, dict):
        kept = {}
        for key, value in node.items():
            if key in _DROPPED:
                continue
            # "properties" maps field names to schemas: never drop a field that is called "description".
            kept[key] = {k: _strip(v) for k, v in value.items()} if key == "properties" else _strip(value)
        return kept
    if isinstance(node, list):
        return [_strip(item) for item in node]
    return node


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def prune(upstream: dict[str, Any], version: str, commit: str) -> dict[str, Any]:
    """The definitions reachable from the linted kinds, without documentation, with their provenance."""
    definitions: dict[str, Any] = upstream["definitions"]
    roots = {kind: PREFIX + kind for kind in KINDS}
    kept: dict[str, Any] = {}
    pending = list(roots.values())
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept[name] = _strip(definitions[name])
        pending += sorted(_references(kept[name]) - set(kept))
    return {
        "argoVersion": version,
        "sourceCommit": commit,
        "source": f"argoproj/argo-workflows {SOURCE_PATH}",
        "roots": roots,
        "definitions": dict(sorted(kept.items())),
    }


def render(schema: dict[str, Any]) -> str:
    """The committed text: sorted keys, one level of indentation, a final newline."""
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("argo", type=Path, help="an argo-workflows checkout, or a git repository with --ref")
    parser.add_argument("--ref", help="read the schema at this git ref (tag) instead of the work tree")
    parser.add_argument("--version", help="the Argo version (default: the ref, or git describe --tags)")
    parser.add_argument("--commit", help="the source commit (default: asked of git)")
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    if args.ref:
        text = _git(args.argo, "show", f"{args.ref}:{SOURCE_PATH}")
        commit = args.commit or _git(args.argo, "rev-parse", f"{args.ref}^{{commit}}")
        version = args.version or args.ref
    else:
        text = (args.argo / SOURCE_PATH).read_text(encoding="utf-8")
        commit = args.commit or _git(args.argo, "rev-parse", "HEAD")
        version = args.version or _git(args.argo, "describe", "--tags")
    args.out.write_text(render(prune(json.loads(text), version, commit)), encoding="utf-8")
    print(f"{args.out}: Argo {version} ({commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
