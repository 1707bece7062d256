"""How often ``aphex lint`` agrees with Argo Workflows' own validation, measured on Argo's sources.

Usage: ``.venv/bin/python benchmarks/argo_agreement.py ARGO_CHECKOUT [-v]`` where ARGO_CHECKOUT is an
extracted argo-workflows source tree of the supported release (v4.1.2). Three figures are printed:

1. Agreement on the cases of ``workflow/validate/validate_test.go`` and ``validate_dag_test.go``. The Go
   files are read as text: YAML constants (package-level and function-local raw strings, ``@testdata/``
   files) are collected, every test function is followed statement by statement (table-driven loops are
   unrolled, ``if`` blocks on table fields taken or skipped), and each call of Argo's validators
   (``validate``, ``validateWorkflowTemplate``, ``Workflow``, ``WorkflowTemplate``,
   ``ClusterWorkflowTemplate``, ``CronWorkflow``) on YAML becomes a case whose expected verdict is the
   first assertion on ``err`` after it (``NoError``: valid; ``Error``, ``ErrorContains``, ``EqualError``,
   ``Contains(err.Error())``: invalid). WorkflowTemplates the tests create (``createWorkflowTemplate*``)
   are given to the linter with later cases, as the shared fake clientset gives them to Argo. Calls on
   objects built as Go structs are not YAML and are counted as skipped.
2. The example files (``examples/**/*.yaml``, all valid for Argo): linted together, so that
   ``templateRef`` resolves among them; every flagged file is listed.
3. Invalid-by-construction mutations of every example object (an unknown field, an undefined
   entrypoint, a duplicate template, a bad retry policy, a bad ``activeDeadlineSeconds``, an undefined
   input reference): how many are caught.

Figures only: nothing here passes or fails.
"""

import copy as copy_module
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aphex.dsl.lint import Mode, SourceDocument, lint_documents, lint_paths, load_paths  # noqa: E402

TEST_FILES = ("workflow/validate/validate_dag_test.go", "workflow/validate/validate_test.go")
# Examples that need a newer Argo than the supported one, or no Argo at all, by name with the reason.
SKIPPED_EXAMPLES: dict[str, str] = {}

_VALIDATORS = {
    "validate": ("Workflow", 1, None),
    "validateWorkflowTemplate": ("WorkflowTemplate", 1, 2),
    "Workflow": ("Workflow", 3, 5),
    "WorkflowTemplate": ("WorkflowTemplate", 3, 5),
    "ClusterWorkflowTemplate": ("ClusterWorkflowTemplate", 3, 5),
    "CronWorkflow": ("CronWorkflow", 3, None),
}
_UNMARSHAL = {
    "unmarshalWf": "Workflow",
    "unmarshalWftmpl": "WorkflowTemplate",
    "wfv1.MustUnmarshalWorkflow": "Workflow",
    "wfv1.MustUnmarshalWorkflowTemplate": "WorkflowTemplate",
    "wfv1.MustUnmarshalClusterWorkflowTemplate": "ClusterWorkflowTemplate",
    "wfv1.MustUnmarshalCronWorkflow": "CronWorkflow",
}
_VALID = re.compile(r"\b(?:require|assert)\.NoError\(\s*t\s*,\s*err\b")
_INVALID = re.compile(
    r"\b(?:require|assert)\.(?:Error|ErrorContains|EqualError|ErrorIs)\(\s*t\s*,\s*err\b"
    r"|\b(?:require|assert)\.Contains\(\s*t\s*,\s*err\.Error\(\)"
)
_CALL = re.compile(r"(?<![\w.])(" + "|".join(sorted(_VALIDATORS, key=len, reverse=True)) + r")\(")
_BIND = re.compile(r"(?<![\w.])(\w+)\s*:?=\s*(" + "|".join(re.escape(k) for k in _UNMARSHAL) + r")\(")
_STRING_BIND = re.compile(r"(?<![\w.])(?:var\s+)?(\w+)\s*:?=\s*(?=[`\"])")
_INLINE_UNMARSHAL = re.compile(r"(?:" + "|".join(re.escape(k) for k in _UNMARSHAL) + r")\((.*)\)", re.DOTALL)
_CREATE = re.compile(r"(?<![\w.])(createWorkflowTemplateFromSpec|createWorkflowTemplate)\(")
_DELETE = re.compile(
    r"(?<![\w.])(defer\s+func\(\)\s*\{\s*)?_ = deleteWorkflowTemplate\([^,]+,\s*(\w+)\.Name\s*\)"
)


@dataclass
class Case:
    """One validator call on YAML and Argo's verdict."""

    test: str
    kind: str
    text: str
    mode: Mode
    valid: bool
    catalog: list[str]


# ---------------------------------------------------------------- reading Go source as text


def _strip_comments(source: str) -> str:
    """The source without // and /* */ comments; string and raw string literals kept intact."""
    out: list[str] = []
    i = 0
    while i < len(source):
        c = source[i]
        if c in "`\"'":
            end = _after_literal(source, i)
            out.append(source[i:end])
            i = end
        elif source.startswith("//", i):
            i = source.find("\n", i)
            i = len(source) if i < 0 else i
        elif source.startswith("/*", i):
            i = source.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _after_literal(text: str, start: int) -> int:
    """Index just past the Go string, raw string or rune literal opening at ``start``."""
    quote = text[start]
    if quote == "`":
        return text.index("`", start + 1) + 1
    i = start + 1
    while text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _balanced(text: str, start: int, opening: str, closing: str) -> int:
    """Index just past the bracket that closes the one at ``start`` (strings skipped)."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "`\"'":
            i = _after_literal(text, i)
            continue
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {opening}")


def _split_top(text: str, separator: str = ",") -> list[str]:
    """Split at separators outside brackets and strings."""
    parts: list[str] = []
    depth = 0
    current = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c in "`\"'":
            i = _after_literal(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == separator and depth == 0:
            parts.append(text[current:i])
            current = i + 1
        i += 1
    parts.append(text[current:])
    return [part.strip() for part in parts if part.strip()]


def _go_string(literal: str) -> str:
    if literal.startswith("`"):
        return literal[1:-1]
    decoded: str = yaml.safe_load(literal)  # a Go interpreted string is a YAML double-quoted scalar
    return decoded


class _Evaluator:
    """Values of simple Go string expressions: literals, constants, ``+``, ``@testdata`` files."""

    def __init__(self, directory: Path, constants: dict[str, str]) -> None:
        self.directory = directory
        self.constants = constants

    def value(self, expression: str, local: dict[str, Any]) -> Any:
        expression = expression.strip()
        parts = _split_top(expression, "+")
        if len(parts) > 1:
            pieces = [self.value(part, local) for part in parts]
            if all(isinstance(piece, str) for piece in pieces):
                return "".join(pieces)
            return None
        if expression[:1] in '`"':
            return _go_string(expression)
        if expression in ("true", "false"):
            return expression == "true"
        if expression in local:
            return local[expression]
        return self.constants.get(expression)

    def yaml_text(self, expression: str, local: dict[str, Any]) -> str | None:
        text = self.value(expression, local)
        if not isinstance(text, str):
            return None
        if text.startswith("@"):
            return (self.directory / text[1:]).read_text(encoding="utf-8")
        return text


def _package_constants(source: str) -> dict[str, str]:
    constants: dict[str, str] = {}
    for match in re.finditer(r"^(?:var|const)\s+(\w+)\s*=\s*", source, re.MULTILINE):
        end = _expression_end(source, match.end())
        constants[match.group(1)] = source[match.end() : end]
    for match in re.finditer(r"^(?:var|const)\s*\(", source, re.MULTILINE):
        block = source[match.end() - 1 : _balanced(source, match.end() - 1, "(", ")")]
        for inner in re.finditer(r"^\s*(\w+)\s*=\s*", block, re.MULTILINE):
            end = _expression_end(block, inner.end())
            constants[inner.group(1)] = block[inner.end() : end]
    evaluator = _Evaluator(Path(), {})
    resolved: dict[str, str] = {}
    for _ in range(3):  # constants made of other constants
        evaluator.constants = resolved
        for name, expression in constants.items():
            value = evaluator.value(expression, {})
            if isinstance(value, str):
                resolved[name] = value
    return resolved


def _expression_end(text: str, start: int) -> int:
    """End of the expression starting at ``start``: the first newline outside strings and brackets."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c in "`\"'":
            i = _after_literal(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                return i
            depth -= 1
        elif c in "\n;" and depth == 0 and not text[start:i].rstrip().endswith("+"):
            return i
        i += 1
    return i


def _test_functions(source: str) -> list[tuple[str, str]]:
    functions = []
    for match in re.finditer(r"^func (Test\w+)\(t \*testing\.T\) \{", source, re.MULTILINE):
        start = match.end() - 1
        functions.append((match.group(1), source[start + 1 : _balanced(source, start, "{", "}") - 1]))
    return functions


# ---------------------------------------------------------------- unrolling loops and static ifs


def _go_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "`" + value + "`" if "`" not in value else '"' + value.replace('"', '\\"') + '"'
    return "nil"


def _unroll(body: str, evaluator: _Evaluator) -> str:
    """Loops over a local table or list of constants, written out once per element."""
    while True:
        loop = re.search(r"for _, (\w+) := range (\w+) \{", body)
        if not loop:
            return body
        variable, collection = loop.group(1), loop.group(2)
        block_end = _balanced(body, loop.end() - 1, "{", "}")
        block = body[loop.end() : block_end - 1]
        definition = re.search(rf"\b{collection}\s*:=\s*\[\]\s*(?:struct\s*\{{[^}}]*\}}|[\w.*]+)\s*\{{", body)
        copies: list[str] = []
        if definition:
            items_end = _balanced(body, definition.end() - 1, "{", "}")
            for item in _split_top(body[definition.end() : items_end - 1]):
                copies.append(_instantiate(block, variable, item, evaluator))
        body = body[: loop.start()] + "\n".join(copies) + body[block_end:]


def _instantiate(block: str, variable: str, item: str, evaluator: _Evaluator) -> str:
    if item.startswith("{"):
        fields: dict[str, Any] = {}
        for pair in _split_top(item[1:-1]):
            key, _, expression = pair.partition(":")
            fields[key.strip()] = evaluator.value(expression, {})

        def field(match: re.Match[str]) -> str:
            return _go_literal(fields.get(match.group(1), ""))

        return re.sub(rf"(?<![\w.]){variable}\.(\w+)", field, block)
    return re.sub(rf"(?<![\w.]){variable}(?![\w])", item, block)


def _condition(text: str) -> bool | None:
    text = text.strip()
    negated = text.startswith("!")
    text = text.removeprefix("!").strip()
    if text in ("true", "false"):
        return (text == "true") != negated
    comparison = re.fullmatch(r"(`[^`]*`|\"[^\"]*\")\s*(==|!=)\s*(`[^`]*`|\"[^\"]*\")", text)
    if comparison:
        same = _go_string(comparison.group(1)) == _go_string(comparison.group(3))
        return (same if comparison.group(2) == "==" else not same) != negated
    return None


def _static_ifs(body: str) -> str:
    """``if`` blocks whose condition is literal after unrolling: keep the branch taken, drop the other."""
    position = 0
    while True:
        match = re.compile(r"\bif ([^{\n]+)\{").search(body, position)
        if not match:
            return body
        taken = _condition(match.group(1))
        if taken is None:
            position = match.end()
            continue
        then_end = _balanced(body, match.end() - 1, "{", "}")
        then = body[match.end() : then_end - 1]
        rest = body[then_end:]
        otherwise = ""
        else_match = re.match(r"\s*else\s*\{", rest)
        if else_match:
            else_end = _balanced(rest, else_match.end() - 1, "{", "}")
            otherwise = rest[else_match.end() : else_end - 1]
            rest = rest[else_end:]
        chosen = then if taken else otherwise
        if re.search(r"\breturn\b", chosen):
            rest = ""  # the rest of this (unrolled) body is not reached
        body = body[: match.start()] + chosen + rest
        position = match.start()


# ---------------------------------------------------------------- cases


def _extract(argo: Path) -> tuple[list[Case], list[str]]:
    cases: list[Case] = []
    skipped: list[str] = []
    created: dict[str, str] = {}  # name -> YAML of WorkflowTemplates created so far (shared fake clientset)
    sources = [_strip_comments((argo / relative).read_text(encoding="utf-8")) for relative in TEST_FILES]
    # One Go package: constants of either file are visible in both.
    evaluator = _Evaluator((argo / TEST_FILES[0]).parent, _package_constants("\n".join(sources)))
    for source in sources:
        for test, raw_body in _test_functions(source):
            body = _static_ifs(_unroll(raw_body, evaluator))
            cases += _cases_of(test, body, evaluator, created, skipped)
    return cases, skipped


def _template_name(text: str) -> str:
    data = yaml.safe_load(text) or {}
    return str((data.get("metadata") or {}).get("name"))


def _cases_of(
    test: str, body: str, evaluator: _Evaluator, created: dict[str, str], skipped: list[str]
) -> list[Case]:
    local: dict[str, Any] = {}
    objects: dict[str, tuple[str, str] | None] = {}
    mutated: set[str] = set()
    events: list[tuple[int, str, re.Match[str]]] = []
    for pattern, name in ((_STRING_BIND, "string"), (_BIND, "bind"), (_CREATE, "create"), (_CALL, "call")):
        events += [(m.start(), name, m) for m in pattern.finditer(body)]
    # A deferred delete runs when the test function returns.
    events += [(len(body) if m.group(1) else m.start(), "delete", m) for m in _DELETE.finditer(body)]
    events += [(m.start(), "struct", m) for m in re.finditer(r"(\w+)\s*:?=\s*&wfv1\.", body)]
    # An object changed in Go (wf.Spec... = ...) no longer matches its YAML.
    events += [
        (m.start(), "mutate", m) for m in re.finditer(r"(?<![\w.])(\w+)\.[A-Z][\w.\[\]]*\s*=(?!=)", body)
    ]
    verdicts = sorted(
        [(m.start(), True) for m in _VALID.finditer(body)]
        + [(m.start(), False) for m in _INVALID.finditer(body)]
    )
    found: list[Case] = []
    for position, event, match in sorted(events, key=lambda e: e[0]):
        if event == "string":
            end = _expression_end(body, match.end())
            value = evaluator.value(body[match.end() : end], local)
            if isinstance(value, str):
                local[match.group(1)] = value
        elif event == "struct":
            objects[match.group(1)] = None
        elif event == "mutate":
            if match.group(1) in objects:
                objects[match.group(1)] = None
                mutated.add(match.group(1))
        elif event == "bind":
            open_at = match.end() - 1
            argument = body[open_at + 1 : _balanced(body, open_at, "(", ")") - 1]
            text = evaluator.yaml_text(argument, local)
            objects[match.group(1)] = (_UNMARSHAL[match.group(2)], text) if text else None
        elif event == "create":
            open_at = match.end() - 1
            arguments = _split_top(body[open_at + 1 : _balanced(body, open_at, "(", ")") - 1])
            if match.group(1) == "createWorkflowTemplateFromSpec":
                text = evaluator.yaml_text(arguments[1], local)
            else:
                bound = objects.get(arguments[1])
                text = bound[1] if bound else None
            if text:
                created.setdefault(_template_name(text), text)
        elif event == "delete":
            bound = objects.get(match.group(2))
            if bound:
                created.pop(_template_name(bound[1]), None)
        else:
            kind, argument_index, opts_index = _VALIDATORS[match.group(1)]
            open_at = match.end() - 1
            arguments = _split_top(body[open_at + 1 : _balanced(body, open_at, "(", ")") - 1])
            if len(arguments) <= argument_index:
                continue
            opts = arguments[opts_index] if opts_index is not None and len(arguments) > opts_index else ""
            mode = (
                Mode.LINT if "Lint: true" in opts else Mode.SUBMIT if "Submit: true" in opts else Mode.CREATE
            )
            inline = _INLINE_UNMARSHAL.fullmatch(arguments[argument_index])
            if match.group(1) in ("validate", "validateWorkflowTemplate"):
                text = evaluator.yaml_text(arguments[argument_index], local)
            elif inline:
                text = evaluator.yaml_text(inline.group(1), local)
            else:
                bound = objects.get(arguments[argument_index])
                text = bound[1] if bound else None
            verdict = next((valid for at, valid in verdicts if at > position), None)
            if arguments[argument_index] in mutated:
                skipped.append(
                    f"{test}: {match.group(1)}({arguments[argument_index]}) on an object changed in Go"
                )
                continue
            if text is None:
                skipped.append(f"{test}: {match.group(1)}({arguments[argument_index]}) is not YAML")
                continue
            if verdict is None:
                skipped.append(f"{test}: {match.group(1)}({arguments[argument_index]}) has no assertion")
                continue
            found.append(Case(test, kind, text, mode, verdict, list(created.values())))
    return found


def _lint_case(case: Case) -> list[str]:
    try:
        data = yaml.safe_load(case.text)
    except yaml.YAMLError as error:
        return [f"not YAML: {error}"]
    if not isinstance(data, dict):
        return ["not a mapping"]
    data["kind"] = case.kind  # Go unmarshals into the validator's type whatever the YAML says
    data.setdefault("apiVersion", "argoproj.io/v1alpha1")
    documents = [SourceDocument(file="case.yaml", index=0, data=data)]
    documents += [
        SourceDocument(file=f"template-{i}.yaml", index=0, data=yaml.safe_load(text))
        for i, text in enumerate(case.catalog)
    ]
    return [
        f"{p.field}: {p.message}" for p in lint_documents(documents, mode=case.mode) if p.file == "case.yaml"
    ]


def measure_tests(argo: Path, verbose: bool) -> None:
    cases, skipped = _extract(argo)
    agree = kept = caught = 0
    valid = [case for case in cases if case.valid]
    for case in cases:
        problems = _lint_case(case)
        ok = (not problems) == case.valid
        agree += ok
        kept += ok and case.valid
        caught += ok and not case.valid
        if verbose and not ok:
            verdict = "valid" if case.valid else "invalid"
            print(f"  DISAGREE {case.test} ({case.kind}, Argo: {verdict}): {problems[:2]}")
    print(
        f"Argo validation tests: {len(cases)} cases classified ({len(valid)} valid, "
        f"{len(cases) - len(valid)} invalid), {len(skipped)} calls skipped"
    )
    if verbose:
        for reason in skipped:
            print(f"  skipped: {reason}")
    print(f"  agreement: {agree}/{len(cases)} = {100 * agree / max(len(cases), 1):.1f}%")
    print(f"  valid kept: {kept}/{len(valid)}  invalid caught: {caught}/{len(cases) - len(valid)}")


def measure_examples(argo: Path) -> None:
    examples = argo / "examples"
    files = sorted(p for p in examples.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    files = [p for p in files if str(p.relative_to(examples)) not in SKIPPED_EXAMPLES]
    problems = lint_paths(files)
    flagged = sorted({p.file for p in problems})
    print(
        f"Argo examples: {len(files)} files linted, {len(flagged)} flagged, "
        f"{len(SKIPPED_EXAMPLES)} skipped by name"
    )
    for problem in problems:
        print(
            f"  {Path(problem.file).relative_to(examples)}: {problem.obj}: {problem.field}: {problem.message}"
        )
    for name, reason in SKIPPED_EXAMPLES.items():
        print(f"  skipped {name}: {reason}")


def _mutations(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Invalid-by-construction variants of one valid object (each must be flagged)."""
    spec_key = ("spec", "workflowSpec") if data.get("kind") == "CronWorkflow" else ("spec",)
    variants: list[tuple[str, dict[str, Any]]] = []

    def variant(name: str, change: Callable[[dict[str, Any]], bool]) -> None:
        copy = copy_module.deepcopy(data)
        spec = copy
        for key in spec_key:
            spec = spec.setdefault(key, {}) or {}
        if change(spec):
            variants.append((name, copy))

    def unknown_field(spec: dict[str, Any]) -> bool:
        spec["entrypointt"] = "x"
        return True

    def missing_entrypoint(spec: dict[str, Any]) -> bool:
        if not spec.get("templates"):
            return False
        spec["entrypoint"] = "no-such-template"
        return True

    def duplicate_template(spec: dict[str, Any]) -> bool:
        if not spec.get("templates"):
            return False
        spec["templates"].append(copy_module.deepcopy(spec["templates"][0]))
        return True

    def bad_retry_policy(spec: dict[str, Any]) -> bool:
        if not spec.get("templates"):
            return False
        spec["templates"][0]["retryStrategy"] = {"retryPolicy": "Sometimes"}
        return True

    def bad_deadline(spec: dict[str, Any]) -> bool:
        if not spec.get("templates"):
            return False
        spec["templates"][0]["activeDeadlineSeconds"] = "soon"
        return True

    def undefined_input(spec: dict[str, Any]) -> bool:
        # Argo resolves every field of a leaf template (validateLeaf), only nodes and outputs of the others.
        leaves = [t for t in spec.get("templates") or [] if t.get("container") or t.get("script")]
        if not leaves:
            return False
        leaves[0].setdefault("metadata", {}).setdefault("annotations", {})["x"] = (
            "{{inputs.parameters.never-declared}}"
        )
        return True

    for name, change in (
        ("unknown field", unknown_field),
        ("missing entrypoint", missing_entrypoint),
        ("duplicate template", duplicate_template),
        ("bad retry policy", bad_retry_policy),
        ("bad activeDeadlineSeconds", bad_deadline),
        ("undefined input", undefined_input),
    ):
        variant(name, change)
    return variants


def measure_mutations(argo: Path) -> None:
    documents = load_paths([argo / "examples"])
    argo_documents = [d for d in documents if isinstance(d.data, dict) and d.data.get("kind") in _VALIDATORS]
    templates = [
        d for d in argo_documents if d.data.get("kind") in ("WorkflowTemplate", "ClusterWorkflowTemplate")
    ]
    total = caught = 0
    missed: list[str] = []
    for document in argo_documents:
        for name, mutated in _mutations(document.data):
            total += 1
            case = SourceDocument(file="mutated.yaml", index=0, data=mutated)
            others = [t for t in templates if t is not document]
            if any(p.file == "mutated.yaml" for p in lint_documents([case, *others])):
                caught += 1
            else:
                missed.append(f"{Path(document.file).relative_to(argo / 'examples')}: {name}")
    print(f"Mutations of the examples (invalid by construction): {caught}/{total} caught")
    for line in missed:
        print(f"  missed: {line}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    argo = Path(argv[0])
    verbose = "-v" in argv[1:]
    measure_tests(argo, verbose)
    measure_examples(argo)
    measure_mutations(argo)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
