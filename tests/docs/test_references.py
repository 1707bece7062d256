"""Every object name, label and command quoted in docs/ and README.md exists in what aphex compiles.

The check (tests/docs/references.py) reads the compiled default bundle and the example cluster's bundle
with its pipeline; the stale quotes below are ones the docs once had, so the check is known to catch them.
"""

import re
from pathlib import Path

import pytest

from tests.docs.references import Known, known_references, page_problems

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", ROOT / "CHANGELOG.md"]


@pytest.fixture(scope="module")
def known() -> Known:
    return known_references(ROOT)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_quote_of_the_page_names_what_aphex_compiles(page: Path, known: Known) -> None:
    assert page_problems(page.name, page.read_text(encoding="utf-8"), known) == []


STALE = {
    "EventSource label by the release alone": (
        "`kubectl logs -n argo-events -l eventsource-name=aphex-github`",
        "label eventsource-name=aphex-github: no EventSource 'aphex-github' in the bundle",
    ),
    "Sensor account by the release alone": (
        "A `forbidden` error means the Sensor's ServiceAccount `aphex-sensor` lacks its Role.",
        "ServiceAccount `aphex-sensor`: no ServiceAccount of that name in the bundle",
    ),
    "trigger label without the pipeline": (
        "`argo list -n argo -l aphex.dev/trigger=push` shows the runs of one trigger.",
        "label aphex.dev/trigger=push: the bundle sets aphex.dev/trigger only to ",
    ),
    "mutex without pr/issue": (
        "the template holds the mutex\n`implementation-dag-<owner>-<repo>-<pr>`; a second waits.",
        "mutex `implementation-dag-<owner>-<repo>-<pr>`: the bundle's mutexes are ",
    ),
    "unknown template": (
        "`argo submit -n argo --from workflowtemplate/implementation --wait`",
        "workflowtemplate/implementation: no WorkflowTemplate of that name",
    ),
    "unknown parameter": (
        "`argo submit -n argo --from workflowtemplate/implementation-dag -p pull=42`",
        "workflowtemplate/implementation-dag has no parameter 'pull'",
    ),
    "unknown aphex subcommand": (
        "```sh\naphex validate aphex-config.yaml\n```",
        "`aphex` has no subcommand 'validate'",
    ),
    "unknown aphex option": (
        "```sh\naphex compile --output dist/ \\\n  --values v.yaml\n```",
        "`aphex compile` has no option --output",
    ),
    "unknown label key": (
        "`kubectl get ns -l aphex.dev/pull-request=42`",
        "label 'aphex.dev/pull-request' is on no object aphex compiles or writes",
    ),
    "unknown object": ("the ServiceAccount is `aphex-deployer`", "`aphex-deployer`: no object or reference"),
    "a Python without Hera": ("`python benchmarks/run_benchmark.py`", "run with .venv/bin/python"),
    "unknown cron workflow": ("`argo cron get -n argo janitor`", "argo cron get janitor: no CronWorkflow"),
}


@pytest.mark.parametrize("quote", STALE, ids=list(STALE))
def test_a_stale_quote_is_reported(quote: str, known: Known) -> None:
    text, expected = STALE[quote]
    problems = page_problems("page.md", text, known)
    assert len(problems) == 1, problems
    assert problems[0].startswith("page.md:"), problems
    assert expected in problems[0]


def test_the_quotes_as_fixed_are_accepted(known: Known) -> None:
    fixed = """
`kubectl logs -n argo-events -l eventsource-name=aphex-argo-github`; the Sensor's ServiceAccount
`aphex-argo-sensor`; `argo list -n argo -l aphex.dev/trigger=push-<pipeline>` and
`aphex.dev/trigger=pull-request`; the template holds the mutex
`implementation-dag-<owner>-<repo>-pr<pr>-issue<issue>`; `synchronization.mutexes` (`aphex-pipeline-<name>`).

```sh
argo submit -n argo --from workflowtemplate/implementation-dag -p owner=octo-org -p repo=hello -p pr=42
aphex pipeline stack --config aphex-config.yaml --release aphex \\
  --cluster blue --out pipeline.json   # a comment --not-an-option
helm template aphex helm/aphex -n argo > rendered.yaml && aphex lint rendered.yaml
```
"""
    assert page_problems("page.md", fixed, known) == []


def test_the_pages_quote_what_the_check_reads(known: Known) -> None:
    """The extraction finds the docs' quotes: a broken pattern cannot make the check pass vacuously."""
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    stale = (
        text.replace("eventsource-name=aphex-argo-github", "eventsource-name=aphex-github")
        .replace("aphex.dev/trigger=pull-request", "aphex.dev/trigger=pr")
        .replace("workflowtemplate/cluster-verify", "workflowtemplate/verify")
        .replace("aphex pipeline values", "aphex pipeline entry")
        .replace("pr<pr>-issue<issue>", "<pr>")
        .replace("ServiceAccount `aphex-verifier`", "ServiceAccount `aphex-verify`")
    )
    problems = page_problems("all.md", stale, known)
    for expected in (
        "eventsource-name=aphex-github",
        "aphex.dev/trigger=pr:",
        "workflowtemplate/verify",
        "no subcommand 'entry'",
        "mutex `implementation-dag-<owner>-<repo>-<pr>`",
        "ServiceAccount `aphex-verify`",
    ):
        assert any(expected in problem for problem in problems), expected


def test_the_installer_rights_list_every_kind_the_chart_creates(known: Known) -> None:
    """docs/install.md's table of the kinds ``helm install`` creates is the compiled bundle's kinds."""
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    section = text.split("## Rights the installer needs", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    assert listed == known.kinds
