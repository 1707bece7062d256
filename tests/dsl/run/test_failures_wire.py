"""``{{workflow.failures}}`` and ``{{workflow.status}}`` exactly as Argo's controller sets them.

argo-workflows workflow/controller/operator.go, operate: ``workflow.status`` is the root node's phase
mapped to a workflow phase, and ``workflow.failures`` is
``strconv.Quote(string(json.Marshal(failures)))`` over ``failedNodeStatus{displayName, message,
templateName, phase, podName, finishedAt}`` for every node in phase Failed or Error: a Go string literal
whose content is the JSON array, and the 6 characters ``"null"`` when nothing failed. util/variables/keys/
globals.go documents the same wire format ("consumers must JSON-decode twice").
"""

import json
from pathlib import Path

import pytest

from aphex.dsl.run import Fault, LeafCall, LeafOutcome, RunOptions, run_workflow
from aphex.dsl.run.gowire import go_json, go_quote
from aphex.dsl.run.nodes import pod_name, timestamp

WORKFLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wire}
spec:
  entrypoint: main
  onExit: exit-handler
  templates:
  - name: main
    dag:
      tasks:
      - {name: work, template: leaf}
  - name: leaf
    container: {image: a, command: [x]}
  - name: exit-handler
    steps:
    - - name: report
        template: capture
        arguments:
          parameters:
          - {name: status, value: "{{workflow.status}}"}
          - {name: failures, value: "{{workflow.failures}}"}
  - name: capture
    inputs: {parameters: [{name: status}, {name: failures}]}
    container: {image: a, command: [x]}
"""


def _run(tmp_path: Path, faults: list[Fault]) -> tuple[dict[str, str], object]:
    file = tmp_path / "wf.yaml"
    file.write_text(WORKFLOW)
    seen: dict[str, str] = {}

    def capture(call: LeafCall) -> LeafOutcome:
        seen.update({item["name"]: item["value"] for item in call.inputs})
        return LeafOutcome(phase="Succeeded")

    result = run_workflow(
        [file],
        RunOptions(
            workdir=tmp_path / "work",
            lock_dir=tmp_path / "locks",
            faults=faults,
            functions={"leaf": lambda call: LeafOutcome(phase="Succeeded"), "capture": capture},
        ),
    )
    return seen, result


def test_nothing_failed_gives_the_six_characters_quoted_null(tmp_path: Path) -> None:
    seen, _ = _run(tmp_path, [])
    # json.Marshal of a nil slice is null; strconv.Quote wraps it in double quotes.
    assert seen == {"status": "Succeeded", "failures": '"null"'}


def test_failures_are_a_go_quoted_json_array_in_failed_node_status_field_order(tmp_path: Path) -> None:
    seen, result = _run(tmp_path, [Fault(node="work", phase="Error")])
    assert seen["status"] == "Error"
    work = result.by_display_name("work")  # type: ignore[attr-defined]
    root = result.by_display_name("wire")  # type: ignore[attr-defined]
    finished = {node.display_name: timestamp(node.finished_at) for node in (root, work)}
    # The root DAG errored too (every Failed/Error node counts, whatever its type), without a message
    # (dag.go, executeDAG); its pod name is the workflow name (workflow/util/pod_name.go, GeneratePodName).
    expected = (
        '"[{\\"displayName\\":\\"wire\\",\\"message\\":\\"\\",'
        '\\"templateName\\":\\"main\\",\\"phase\\":\\"Error\\",\\"podName\\":\\"wire\\",'
        f'\\"finishedAt\\":\\"{finished["wire"]}\\"}},'
        '{\\"displayName\\":\\"work\\",\\"message\\":\\"failed by --fail work\\",'
        f'\\"templateName\\":\\"leaf\\",\\"phase\\":\\"Error\\",\\"podName\\":\\"wire-leaf-{work.id[5:]}\\",'
        f'\\"finishedAt\\":\\"{finished["work"]}\\"}}]"'
    )
    assert seen["failures"] == expected
    assert [entry["displayName"] for entry in json.loads(json.loads(seen["failures"]))] == ["wire", "work"]
    assert len(finished["work"]) == len("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("value", "marshalled"),
    [
        # encoding/json escapes HTML characters and U+2028/U+2029, keeps other UTF-8 as is.
        ('<a href="x">&</a>', '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"'),
        ("é\u2028\u2029😀", '"é\\u2028\\u2029😀"'),
        # Control characters: short forms (\b and \f since Go 1.22), else \u00XX; DEL and C1 stay raw.
        ("\n\r\t\b\f\x01\x1f\x7f\x85", '"\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\x85"'),
        ({"b": 1, "a": [None, True]}, '{"b":1,"a":[null,true]}'),
    ],
)
def test_go_json_marshal(value: object, marshalled: str) -> None:
    assert go_json(value) == marshalled


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("null", '"null"'),
        ('say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'),
        # Printable runes (unicode.IsPrint) stay; ASCII controls and DEL are \xNN or short forms.
        ("é😀 ", '"é😀 "'),
        ("\a\b\f\n\r\t\v\x00\x1b\x7f", '"\\a\\b\\f\\n\\r\\t\\v\\x00\\x1b\\x7f"'),
        # Other non-printable runes: C1 controls, no-break space, format, private use.
        ("\x85\xa0\u00ad\ufeff\ue000\U000f0000", '"\\u0085\\u00a0\\u00ad\\ufeff\\ue000\\U000f0000"'),
    ],
)
def test_go_strconv_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_pod_name_follows_generate_pod_name() -> None:
    assert pod_name("wf", "wf", "main") == "wf"
    assert pod_name("wf", "wf.a", "leaf") == "wf-leaf-" + str(_fnv("wf.a"))
    long = pod_name("w" * 300, "w.a", "t")
    assert long == "w" * 242 + "-" + str(_fnv("w.a"))


def _fnv(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) % 2**32
    return value
