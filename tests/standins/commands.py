"""Recording stand-ins for cluster tools (``helm``, ``kubectl``) put first on PATH.

Each stand-in is a small Python executable that appends its argv and stdin as a JSON line to a log and
answers from a rule table: the first rule whose ``argv`` prefix matches gives stdout, stderr and the exit
code. Tests then assert the exact calls. Only tools that need a cluster are stood in for; git is real.
"""

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SCRIPT = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
argv = [name, *sys.argv[1:]]
stdin = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps({{"argv": argv, "stdin": stdin}}) + "\\n")
with open(os.environ["STANDIN_RULES"]) as rules:
    for rule in json.load(rules):
        if argv[: len(rule["argv"])] == rule["argv"]:
            sys.stdout.write(rule.get("stdout", ""))
            sys.stderr.write(rule.get("stderr", ""))
            sys.exit(rule.get("exit", 0))
"""


@dataclass
class StandIns:
    """The stand-ins of one test: add rules, then read ``calls``."""

    directory: Path
    rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.directory / "calls.jsonl"

    def on(self, *argv: str, stdout: str = "", stderr: str = "", exit: int = 0) -> None:
        """Answer calls starting with ``argv``; earlier rules win."""
        self.rules.append({"argv": list(argv), "stdout": stdout, "stderr": stderr, "exit": exit})
        (self.directory / "rules.json").write_text(json.dumps(self.rules))

    def environment(self) -> dict[str, str]:
        """The variables that put the stand-ins in front of the real tools."""
        return {
            "PATH": f"{self.directory / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "STANDIN_LOG": str(self.log),
            "STANDIN_RULES": str(self.directory / "rules.json"),
        }

    def calls(self) -> list[list[str]]:
        return [entry["argv"] for entry in self._entries()]

    def stdin_of(self, *prefix: str) -> str:
        return next(e["stdin"] for e in self._entries() if e["argv"][: len(prefix)] == list(prefix))

    def _entries(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]


def install(directory: Path, tools: list[str]) -> StandIns:
    """Write the stand-ins into ``directory/bin``; the caller sets PATH, STANDIN_LOG and STANDIN_RULES
    (see :meth:`StandIns.environment`)."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    for tool in tools:
        path = bin_dir / tool
        path.write_text(_SCRIPT.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    standins = StandIns(directory)
    (directory / "rules.json").write_text("[]")
    return standins
