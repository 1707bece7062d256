"""Render the chart with a real Helm engine into plain files, for the security gates (``make gates``).

``python -m tests.chart.render OUT [VALUES]`` writes what ``helm template aphex helm/aphex -n argo -f
VALUES`` would print, one file per template in the chart's folders (``OUT/implementation/...``), so
checkov scans exactly what a cluster would receive from the chart.
"""

import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "aphex"


def main(out: Path, values_file: Path | None = None) -> int:
    values: dict[str, Any] = {}
    if values_file is not None:
        values = yaml.safe_load(values_file.read_text(encoding="utf-8")) or {}
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name="aphex", namespace="argo")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, text in sorted(manifests.items()):
        if name.endswith(".yaml") and text.strip():
            target = out / Path(name).relative_to(f"{CHART.name}/templates")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written += 1
    print(f"rendered {written} chart templates into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None))
