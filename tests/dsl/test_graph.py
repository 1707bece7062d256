"""Mermaid diagrams from compiled DAGs (aphex.dsl.graph)."""

import pytest

from aphex.dsl.graph import GraphError, mermaid

WORKFLOW = {
    "metadata": {"name": "demo"},
    "spec": {
        "entrypoint": "main",
        "onExit": "bye",
        "templates": [
            {
                "name": "main",
                "dag": {
                    "tasks": [
                        {"name": "a", "template": "t"},
                        {"name": "b", "template": "t", "depends": "a.Succeeded || a.Failed"},
                        {
                            "name": "c",
                            "templateRef": {"name": "lib", "template": "x"},
                            "dependencies": ["a", "b"],
                        },
                    ]
                },
            },
            {
                "name": "bye",
                "dag": {"tasks": [{"name": "z", "template": "t", "when": "{{workflow.status}} != x"}]},
            },
            {"name": "t", "container": {"image": "i"}},
        ],
    },
}


def test_edges_follow_depends_and_dependencies() -> None:
    text = mermaid(WORKFLOW)
    assert "main_a --> main_b" in text
    assert text.count("main_a --> main_b") == 1
    assert "main_a --> main_c" in text
    assert "main_b --> main_c" in text
    assert "lib/x" in text
    assert 'subgraph exit["onExit: bye"]' in text
    assert "main -. on exit .-> exit" in text


def test_a_non_dag_entrypoint_is_refused() -> None:
    with pytest.raises(GraphError, match="not a DAG"):
        mermaid(
            {
                "metadata": {"name": "s"},
                "spec": {"entrypoint": "t", "templates": [{"name": "t", "steps": []}]},
            }
        )
