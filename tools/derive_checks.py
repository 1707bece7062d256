"""Write ``aphex/workflows/cluster_verify/derived.json``: cluster-verify's checks and the toggles each
verify object depends on, for every combination of the component toggles (a dev tool, run by
``make chart``).

The derivation builds the bundle in token space for every combination
(:func:`aphex.workflows.verify_parts.derived_document`); ``aphex compile`` reads the result instead of
deriving it on every run. ``tests/workflows/test_verify_parts.py`` fails while the file is stale.
"""

from aphex.workflows.verify_parts import DERIVED_FILE, derived_text


def main() -> None:
    DERIVED_FILE.write_text(derived_text(), encoding="utf-8")
    print(f"wrote {DERIVED_FILE.name}")


if __name__ == "__main__":
    main()
