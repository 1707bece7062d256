"""cluster-verify's parts: the derivation aphex compile reads from derived.json is the current one."""

import json

from aphex.dsl.settings import BundleSettings
from aphex.workflows.components import combinations, toggles
from aphex.workflows.verify_parts import DERIVED_FILE, derived_text


def test_the_committed_derivation_is_the_current_one() -> None:
    """derived.json is what deriving from today's code gives; when not, `make chart` rewrites it."""
    assert DERIVED_FILE.read_text(encoding="utf-8") == derived_text(), (
        "run `make chart` and commit derived.json"
    )


def test_it_covers_every_combination_of_the_toggles() -> None:
    document = json.loads(DERIVED_FILE.read_text(encoding="utf-8"))
    covered = [tuple(entry["components"].items()) for entry in document["combinations"]]
    assert covered == combinations(toggles(BundleSettings()))
