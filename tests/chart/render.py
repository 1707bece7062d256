"""Render the chart with a real Helm engine into plain files, for the security gates (``make gates``).

``python -m tests.chart.render OUT`` writes what ``helm template aphex helm/aphex -n argo`` would print,
one file per template, so checkov scans exactly what a cluster would receive from the chart.
"""

import sys
from pathlib import Path

import helm_python as helm

CHART = Path(__file__).resolve().parents[2] / "helm" / "aphex"


def main(out: Path) -> int:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render({}, name="aphex", namespace="argo")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in sorted(manifests.items()):
        if name.endswith(".yaml") and text.strip():
            (out / Path(name).name).write_text(text, encoding="utf-8")
            written += 1
    print(f"rendered {written} chart templates into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
