"""The Helm chart (``aphex chart``), generated from the same objects as the plain manifests.

How a template is made: the bundle is built once per combination of component toggles with *sentinel*
settings, in which every per-cluster value is a unique token that still passes the values schema. Each
scalar of the built objects that contains tokens becomes a Helm expression over ``.Values`` (strings
through ``toJson``, integers through ``int``), Argo's own ``{{...}}`` are escaped as raw strings
(``{{`{{workflow.name}}`}}``) so Helm leaves them alone, and every part is wrapped in the ``if`` of its
component toggles. Parts built for one entry of the ``pipelines`` list value are built once, for a
sentinel entry, and wrapped in a ``range`` over the list (``$pipeline``). Names derive from the release
(``aphex.instance``), so two releases never collide.

Rendering the chart with default values and release ``aphex`` gives exactly the objects of
``aphex compile``; with any valid values it gives those of ``aphex compile --values`` (tests prove both
with a real Helm engine). See https://helm.sh/docs/chart_template_guide/.
"""

import copy
import dataclasses
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from aphex.dsl.bundle import BundlePart, Condition, dump_yaml, write_tree
from aphex.dsl.chart_readme import chart_readme
from aphex.dsl.deadlines import AGENT_VALIDATE_SECONDS, AGENTS_WITHOUT_DOCS, STAGE_TIMEOUT_SECONDS
from aphex.dsl.errors import DefinitionError
from aphex.dsl.go_regexp import quote_meta
from aphex.dsl.names import EVENTS_NAME_MAX, github_app_bot_login
from aphex.dsl.quantities import STORAGE_FACTORS
from aphex.dsl.settings import DEFAULT_INSTANCE, BundleSettings, default_values, load_settings
from aphex.dsl.values_schema import VALUES_SCHEMA, VERBATIM_VALUES, value_leaves

__all__ = ["CHART_NAME", "ChartError", "chart_files", "sentinel_values", "write_chart"]

CHART_NAME: Final = "aphex"
DESCRIPTION: Final = (
    "Argo-native delivery workflows: the implementation DAG, Aphex pipelines, agent templates, "
    "GitHub triggers (Argo Events) and least-privilege RBAC"
)
_TOKEN_PREFIX: Final = "hxq"
_INSTANCE_TOKEN: Final = f"{_TOKEN_PREFIX}releasez"
"""The sentinel release name (the instance is no value: Helm gives it)."""
KUBE_VERSION: Final = ">=1.30.0-0"
"""The oldest Kubernetes that serves every API the bundle uses: ``admissionregistration.k8s.io/v1``
ValidatingAdmissionPolicy is GA in 1.30 (the rest, ``v1``, ``rbac.authorization.k8s.io/v1`` and the Argo
CRDs, are older). ``-0`` lets pre-release builds such as ``v1.30.4-eks-...`` match (Helm's semver
constraints skip pre-releases otherwise)."""
PROJECT_URL: Final = "https://github.com/aphex-dev/aphex"
"""Where aphex is developed: the organisation of its images (``ghcr.io/aphex-dev``)."""
_ELEMENT_LISTS: Final = {"pipelines": "$pipeline"}
"""List values of sections whose parts the chart repeats, and the range variable of one element."""
_ARGO_EXPRESSION: Final = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

_ARGO_EVENTS_KINDS: Final = frozenset({"EventSource", "Sensor"})
PartsBuilder = Callable[[BundleSettings], list[BundlePart]]


class ChartError(DefinitionError):
    """The bundle cannot be expressed as a chart (a value the generator cannot template)."""


@dataclass(frozen=True, kw_only=True)
class _Sentinel:
    token: str
    expression: str
    """Go template pipeline giving the value as a string."""
    integer: bool = False
    element_of: str = ""
    """For the one element of a list value: the pipeline of the whole list (``$.Values.x``)."""
    scope: str = ""
    """For a field of a repeated section: the list it belongs to; valid only inside its ``range``."""
    whole: bool = False
    """Stands for a whole scalar only (a name that is also the start of longer names built otherwise)."""


@dataclass(frozen=True, kw_only=True)
class _Verbatim:
    """A value emitted as given (:data:`aphex.dsl.values_schema.VERBATIM_VALUES`): the key holding it is
    written only when the value is not empty, as JSON."""

    structure: Any
    """The sentinel value: the built objects hold exactly this where the value goes."""
    expression: str


def _verbatim_structure(key: str, number: int) -> Any:
    """A distinctive valid value of a verbatim value, as the built objects hold it."""
    token = f"{_TOKEN_PREFIX}{number}z"
    structures: dict[str, Any] = {
        "nodeSelector": {f"{token}.x/k": token},
        "tolerations": [
            {
                "key": f"{token}.x",
                "operator": "Equal",
                "value": token,
                "effect": "NoExecute",
                "tolerationSeconds": 61,
            }
        ],
        "imagePullSecrets": [{"name": f"{token}.x"}],
    }
    if key not in structures:
        raise ChartError(f"no sentinel for the verbatim value {key!r}")
    return structures[key]


def _token_for(schema: Mapping[str, Any], number: int) -> str | int:
    if schema["type"] == "integer":
        # Odd numbers counted down from the field's maximum: unlikely anywhere else in the bundle.
        token = int(schema["maximum"]) - 1 - 2 * number
        if token < schema["minimum"]:
            raise ChartError(f"no integer sentinel fits the range of {schema.get('description')!r}")
        return token
    if "enum" in schema:
        # The last choice: a word the bundle holds only where this value goes (never the default).
        return str(schema["enum"][-1])
    pattern = re.compile(schema["pattern"])
    # A dot first: code that quotes a value for a regular expression then shows up as "\." in the output.
    for candidate in (
        f"{_TOKEN_PREFIX}{number}z.x",
        f"{_TOKEN_PREFIX}{number}z",
        f"v{9000 + number}",
        f"https://{_TOKEN_PREFIX}{number}z.x",
        f"/{_TOKEN_PREFIX}{number}z.x",
        f"arn:aws:iam::000000000000:role/{_TOKEN_PREFIX}{number}z.x",
        f"@every {9000 + number}m",
        f"{9000 + number}m",  # a CPU quantity
        f"{9000 + number}Mi",  # a memory or storage quantity
    ):
        if pattern.search(candidate):
            return candidate
    raise ChartError(f"no sentinel fits the pattern {schema['pattern']!r}")


def _put(values: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path``; ``[]`` stands for the one (sentinel) entry of a list of sections."""
    target = values
    for part, following in itertools.pairwise(path):
        if part != "[]":
            target = target.setdefault(part, [{}])[0] if following == "[]" else target.setdefault(part, {})
    target[path[-1]] = value


def _leaf_tokens() -> Iterator[tuple[tuple[str, ...], Mapping[str, Any], str | int]]:
    """(path, schema, token) of every templatable value leaf but the verbatim ones."""
    for number, (path, schema) in enumerate(value_leaves(VALUES_SCHEMA)):
        if schema["type"] == "boolean" or path[-1] == "digest" or path in VERBATIM_VALUES:
            continue  # structural toggles; a digest is part of the image helper; verbatim values
        listed = schema["type"] == "array"
        yield path, schema, _token_for(schema["items"] if listed else schema, number)


def _verbatims() -> list[tuple[tuple[str, ...], _Verbatim]]:
    """(path, sentinel) of every :data:`aphex.dsl.values_schema.VERBATIM_VALUES` value."""
    return [
        (
            path,
            _Verbatim(
                structure=_verbatim_structure(path[-1], number),
                expression="$.Values." + ".".join(path),
            ),
        )
        for number, (path, _) in enumerate(value_leaves(VALUES_SCHEMA))
        if path in VERBATIM_VALUES
    ]


def sentinel_values() -> tuple[dict[str, Any], dict[tuple[str, ...], str | int]]:
    """Values where every templatable leaf is a unique token (what the chart is generated from), and
    the token of each leaf path (one for a list of strings: its one element); the release's token, which
    is not a value, under ``("instance",)``. A verbatim value holds a distinctive structure instead and has
    no token."""
    values: dict[str, Any] = {}
    tokens: dict[tuple[str, ...], str | int] = {("instance",): _INSTANCE_TOKEN}
    for path, schema, token in _leaf_tokens():
        _put(values, path, [token] if schema["type"] == "array" else token)
        tokens[path] = token
    for path, verbatim in _verbatims():
        _put(values, path, verbatim.structure)
    return values, tokens


def _is_request(path: tuple[str, ...]) -> bool:
    return len(path) > 2 and path[-2] == "requests"


def _request_expression(path: tuple[str, ...]) -> str:
    """The request at ``path``, checked against its limit (Kubernetes refuses a request above it)."""
    section = "$.Values." + ".".join(path[:-2])
    where = json.dumps(".".join(path[:-2]))
    return f'(include "aphex.request" (list {section} {where} {json.dumps(path[-1])}))'


_VALUES_CHECKS: Final = "templates/checks/values.yaml"
"""Renders nothing and refuses what the compiler refuses whether or not an object uses the value (the heavy
class reaches only the Aphex pipelines' templates). Helm renders templates in deeper folders first (helm
pkg/engine/engine.go, sortTemplates), so these checks fail before any other template does."""


def _values_checks() -> str:
    """Every request checked against its limit, in the order ``aphex compile`` lists its problems
    (:func:`aphex.dsl.values_schema.values_problems`: keys alphabetically), so both name the same one
    first."""
    lines = ["{{- /* Every request at most its limit, as aphex/dsl/quantities.py; renders nothing. */ -}}"]
    for path in sorted(path for path, _ in value_leaves(VALUES_SCHEMA) if _is_request(path)):
        lines.append("{{- $_ := " + _request_expression(path) + " }}")
    return "\n".join(lines) + "\n"


def _sentinels() -> tuple[dict[str, Any], list[_Sentinel], list[_Verbatim]]:
    """Values where every templatable leaf is a token, and the expression each token stands for."""
    values, _ = sentinel_values()
    sentinels = [_Sentinel(token=_INSTANCE_TOKEN, expression='(include "aphex.instance" $)')]
    verbatims = [verbatim for _, verbatim in _verbatims()]
    for path, schema, token in _leaf_tokens():
        scope = path[0] if "[]" in path else ""
        if path == ("namespace",):
            expression = 'include "aphex.namespace" $'  # the release namespace unless the value is set
        elif path == ("workflowDeadlineSeconds",):
            expression = '(include "aphex.workflowDeadline" $)'  # checked against the stage deadlines
        elif _is_request(path):
            expression = _request_expression(path)
        elif scope:
            expression = ".".join((_ELEMENT_LISTS[scope], *path[2:]))
        else:
            expression = "$.Values." + ".".join(path)
        listed = schema["type"] == "array"
        if isinstance(token, int):
            sentinels.append(
                _Sentinel(token=str(token), expression=f"(int {expression})", integer=True, scope=scope)
            )
            continue
        # In a list, the one element stands for each element in turn ($element in a range).
        value = "$element" if listed else f"({expression})"
        list_of = expression if listed else ""
        sentinels.append(_Sentinel(token=token, expression=value, element_of=list_of, scope=scope))
        if quote_meta(token) != token:
            sentinels.append(
                _Sentinel(
                    token=quote_meta(token),
                    expression=f"(regexQuoteMeta {value})",
                    element_of=list_of,
                    scope=scope,
                )
            )
    return values, sentinels, verbatims


def _flags() -> list[tuple[tuple[str, ...], _Sentinel]]:
    """Boolean values other than the component toggles (``archiveLogs``), with the token that stands for
    each where the bundle holds it: a flag is templated at every place where flipping it flips a boolean
    of the built objects (:func:`_mark_flag`)."""
    flags = []
    for number, (path, schema) in enumerate(value_leaves(VALUES_SCHEMA)):
        if schema["type"] != "boolean" or path[0] == "components":
            continue
        if "[]" in path:
            raise ChartError(f"{'.'.join(path)}: a boolean inside a list of sections cannot be templated")
        expression = "($.Values." + ".".join(path) + ")"
        flags.append((path, _Sentinel(token=f"{_TOKEN_PREFIX}{number}flagz", expression=expression)))
    return flags


def _mark_flag(
    base: Any, flipped: Any, token: str, where: str, *, earlier: frozenset[str] = frozenset()
) -> Any:
    """``base`` (built with the flag false) with ``token`` wherever ``flipped`` (built with it true) holds
    true instead of false; any other difference is a :class:`ChartError`. ``earlier`` are the tokens of
    flags already marked in ``base`` (false in ``flipped``)."""
    if base == flipped:
        return base
    if isinstance(base, dict) and isinstance(flipped, dict) and list(base) == list(flipped):
        return {
            key: _mark_flag(base[key], flipped[key], token, f"{where}.{key}", earlier=earlier) for key in base
        }
    if isinstance(base, list) and isinstance(flipped, list) and len(base) == len(flipped):
        return [
            _mark_flag(item, other, token, f"{where}[{index}]", earlier=earlier)
            for index, (item, other) in enumerate(zip(base, flipped, strict=True))
        ]
    if base is False and flipped is True:
        return token
    if isinstance(base, str) and base in earlier and flipped is False:
        return base
    raise ChartError(f"{where}: a boolean value changes more than a boolean field ({base!r} -> {flipped!r})")


def _exact(settings: BundleSettings, template_bases: list[str]) -> list[_Sentinel]:
    """Composite values the chart computes with a helper, not by concatenation."""
    exact = [
        _Sentinel(
            token=str(settings.deployer_image), expression='(include "aphex.image" $.Values.deployerImage)'
        ),
        _Sentinel(
            token=str(settings.builder_image), expression='(include "aphex.image" $.Values.builderImage)'
        ),
    ]
    for field in dataclasses.fields(settings.agents):
        # The Sensor's filter on the agents' bot logins (aphex/workflows/events.py): slug, "[bot]", quoted.
        value = f"$.Values.agents.{field.name}"
        slug = f'(trimAll "-" (regexReplaceAll "[^a-z0-9]+" (lower {value}) "-"))'
        exact.append(
            _Sentinel(
                token=quote_meta(github_app_bot_login(getattr(settings.agents, field.name))),
                expression=f'(regexQuoteMeta (printf "%s[bot]" {slug}))',
            )
        )
    for base in template_bases:
        exact.append(
            _Sentinel(
                token=settings.names.template(base),
                expression=f'(include "aphex.templateName" (list $ {json.dumps(base)}))',
            )
        )
    (scope, variable), *_ = _ELEMENT_LISTS.items()
    for pipeline in settings.pipelines:  # the one sentinel entry: its WorkflowTemplate's name
        # Whole values only: <instance>-<pipeline>-build and the like are concatenations in every release.
        exact.append(
            _Sentinel(
                token=settings.names.template(pipeline.name),
                expression=f'(include "aphex.templateName" (list $ {variable}.name))',
                scope=scope,
                whole=True,
            )
        )
    return exact


class _Templater:
    """Turns sentinel-bearing scalars into Helm expressions, through placeholders in the dumped YAML."""

    def __init__(self, sentinels: list[_Sentinel], verbatims: list[_Verbatim]) -> None:
        self._whole = {sentinel.token: sentinel for sentinel in sentinels if sentinel.whole}
        self._by_token = {sentinel.token: sentinel for sentinel in sentinels if not sentinel.whole}
        alternatives = sorted(self._by_token, key=len, reverse=True)
        # An integer token is a number of its own, never the digits inside a longer one.
        self._pattern = re.compile(
            "|".join(
                f"(?<![0-9]){re.escape(token)}(?![0-9])"
                if self._by_token[token].integer
                else re.escape(token)
                for token in alternatives
            )
        )
        self._verbatims = verbatims
        self._optional: dict[str, tuple[str, str]] = {}
        self._expressions: dict[str, str] = {}
        self._scope = ""

    def _pipeline(self, value: str, where: str, *, element_of: str = "") -> str | None:
        """The pipeline that computes ``value``, or None when it holds no token."""
        whole = self._whole.get(value)
        if whole is not None:
            if whole.scope not in ("", self._scope):
                raise ChartError(f"{where}: a field of a {whole.scope} entry outside its range: {value!r}")
            return whole.expression
        pieces: list[str] = []
        position = 0
        for match in self._pattern.finditer(value):
            sentinel = self._by_token[match.group(0)]
            if sentinel.element_of not in ("", element_of):
                raise ChartError(f"{where}: an element of a list value outside its list: {value!r}")
            if sentinel.scope not in ("", self._scope):
                raise ChartError(f"{where}: a field of a {sentinel.scope} entry outside its range: {value!r}")
            if match.start() > position:
                pieces.append(json.dumps(value[position : match.start()]))
            pieces.append(f"(toString {sentinel.expression})" if sentinel.integer else sentinel.expression)
            position = match.end()
        if not pieces:
            return None
        if position < len(value):
            pieces.append(json.dumps(value[position:]))
        return pieces[0] if len(pieces) == 1 else f"(print {' '.join(pieces)})"

    def scalar(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return value
        if isinstance(value, int):
            sentinel = self._by_token.get(str(value))
            if sentinel is None or not sentinel.integer:
                return value
            return self._placeholder("{{ " + sentinel.expression + " }}")
        pipeline = self._pipeline(value, where)
        return value if pipeline is None else self._placeholder("{{ " + pipeline + " | toJson }}")

    def _list(self, node: list[Any], where: str) -> Any:
        """A list built from a list value: one element per element of the value, in a Helm range."""
        (element,) = node
        tokens = {self._by_token[match.group(0)].element_of for match in self._pattern.finditer(element)}
        (source,) = tokens - {""}
        pipeline = self._pipeline(element, where, element_of=source)
        return self._placeholder(
            "{{ $items := list }}{{ range $element := " + source + " }}"
            "{{ $items = append $items " + str(pipeline) + " }}{{ end }}{{ $items | toJson }}"
        )

    def _guard(self, placeholder: str, helper: str) -> None:
        """Pass the computed string of ``placeholder`` through a checking helper before it is written."""
        text = self._expressions.get(placeholder)
        if text is None:
            return  # a literal name holds no per-cluster value
        pipeline = text.removeprefix("{{ ").removesuffix(" | toJson }}")
        self._expressions[placeholder] = "{{ include " + helper + " " + pipeline + " | toJson }}"

    def _placeholder(self, text: str) -> str:
        key = f"HELMEXPR{len(self._expressions):05d}Q"
        self._expressions[key] = text
        return key

    def _holds_element(self, node: list[Any]) -> bool:
        return (
            len(node) == 1
            and isinstance(node[0], str)
            and any(self._by_token[m.group(0)].element_of for m in self._pattern.finditer(node[0]))
        )

    def _optional_key(self, key: str, value: Any) -> str | None:
        """A placeholder key for ``key`` when ``value`` is a verbatim value, else None."""
        verbatim = next((v for v in self._verbatims if v.structure == value), None)
        if verbatim is None:
            return None
        placeholder = f"HELMOPT{len(self._optional):05d}Q"
        self._optional[placeholder] = (key, verbatim.expression)
        return placeholder

    def walk(self, node: Any, where: str) -> Any:
        if isinstance(node, dict):
            walked: dict[Any, Any] = {}
            for key, value in node.items():
                if isinstance(key, str) and self._pattern.search(key):
                    raise ChartError(f"{where}: a per-cluster value in a key cannot be templated: {key!r}")
                optional = self._optional_key(key, value) if isinstance(key, str) else None
                if optional is not None:
                    walked[optional] = 0
                else:
                    walked[key] = self.walk(value, f"{where}.{key}")
            return walked
        if isinstance(node, list):
            if self._holds_element(node):
                return self._list(node, where)
            return [self.walk(item, f"{where}[{index}]") for index, item in enumerate(node)]
        return self.scalar(node, where)

    def render(self, obj: dict[str, Any], where: str, *, scope: str = "") -> str:
        """``obj`` as template text; ``scope`` names the list whose ``range`` the text is rendered in."""
        self._scope = scope
        walked = self.walk(obj, where)
        if obj["kind"] in _ARGO_EVENTS_KINDS:
            self._guard(walked["metadata"]["name"], '"aphex.eventsName"')
        text = _escape_argo(dump_yaml(walked), where)
        for key, replacement in self._expressions.items():
            text = text.replace(key, replacement)
        return _OPTIONAL_LINE.sub(self._optional_entry, text)

    def _optional_entry(self, match: re.Match[str]) -> str:
        """The line of a verbatim value: written, as JSON, only when the value is not empty."""
        indent = match.group(1)
        key, expression = self._optional[match.group(2)]
        return (
            f"{indent}{{{{- with {expression} }}}}\n{indent}{key}: {{{{ toJson . }}}}\n{indent}{{{{- end }}}}"
        )


_OPTIONAL_LINE: Final = re.compile(r"^( *)(HELMOPT[0-9]{5}Q): 0$", re.MULTILINE)


def _escape_argo(text: str, where: str) -> str:
    def raw(match: re.Match[str]) -> str:
        if "`" in match.group(0):
            raise ChartError(
                f"{where}: an Argo expression with a backtick cannot be escaped: {match.group(0)!r}"
            )
        return "{{`" + match.group(0) + "`}}"

    return _ARGO_EXPRESSION.sub(raw, text)


def _condition(condition: Condition) -> str:
    terms = [
        f"$.Values.components.{name}" if wanted else f"(not $.Values.components.{name})"
        for name, wanted in condition
    ]
    return terms[0] if len(terms) == 1 else f"(and {' '.join(terms)})"


def _file_name(obj: Mapping[str, Any], tokens: list[str], scope: str) -> str:
    name = str(obj["metadata"]["name"])
    for token in tokens:
        name = name.replace(token, "")
    name = re.sub(r"-{2,}", "-", name).strip("-")
    prefix = f"{scope.removesuffix('s')}-" if scope else ""
    return f"{prefix}{str(obj['kind']).lower()}-{name}.yaml"


_PartKey = tuple[Condition, str, str, str]
"""An object of a part: the part's condition, the list it is repeated for, kind and name."""


def _built(
    parts_builder: PartsBuilder, values: Mapping[str, Any], components: Mapping[str, bool]
) -> dict[_PartKey, dict[str, Any]]:
    """The objects ``values`` install with these ``components``, by part key."""
    (scope,) = _ELEMENT_LISTS
    built: dict[_PartKey, dict[str, Any]] = {}
    for part in parts_builder(load_settings(values, release=_INSTANCE_TOKEN)):
        if not part.applies(components):
            continue
        for obj in part.objects:
            in_scope = scope if part.element is not None else ""
            built[(part.condition, in_scope, str(obj["kind"]), str(obj["metadata"]["name"]))] = obj
    return built


def _templates(parts_builder: PartsBuilder) -> dict[str, str]:
    sentinel_values, sentinels, verbatims = _sentinels()
    toggles = sorted(VALUES_SCHEMA["properties"]["components"]["properties"])
    defaults = BundleSettings()
    bases = sorted(
        str(obj["metadata"]["name"])
        for part in parts_builder(defaults)
        for obj in part.objects
        if obj["kind"] == "WorkflowTemplate"
    )
    sentinel_settings = load_settings(sentinel_values, release=_INSTANCE_TOKEN)
    flags = _flags()
    seen: dict[_PartKey, dict[str, Any]] = {}
    marked: dict[_PartKey, dict[str, Any]] = {}
    for combination in itertools.product([True, False], repeat=len(toggles)):
        components = dict(zip(toggles, combination, strict=True))
        values = {**sentinel_values, "components": components}
        built = _built(parts_builder, values, components)
        for key, obj in built.items():
            if seen.setdefault(key, obj) != obj:
                raise ChartError(f"{key[2]}/{key[3]} depends on a toggle its part does not name")
        new = {key: obj for key, obj in built.items() if key not in marked}
        earlier: frozenset[str] = frozenset()
        for path, flag in flags if new else ():
            flipped_values = copy.deepcopy(values)
            _put(flipped_values, path, True)
            flipped = _built(parts_builder, flipped_values, components)
            for key in new:
                where = f"{key[2]}/{key[3]}"
                new[key] = _mark_flag(new[key], flipped.get(key), flag.token, where, earlier=earlier)
            earlier |= {flag.token}
        marked.update(new)
    templater = _Templater(
        [*_exact(sentinel_settings, bases), *sentinels, *(flag for _, flag in flags)], verbatims
    )
    tokens = [sentinel.token for sentinel in sentinels]
    files: dict[str, list[str]] = {}
    for (condition, in_scope, _, _), obj in marked.items():
        name = _file_name(obj, tokens, in_scope)
        body = "---\n" + templater.render(obj, name, scope=in_scope)
        if in_scope:
            variable = _ELEMENT_LISTS[in_scope]
            body = "{{- range " + variable + " := $.Values." + in_scope + " }}\n" + body + "{{- end }}\n"
        if condition:
            body = "{{- if " + _condition(condition) + " }}\n" + body + "{{- end }}\n"
        files.setdefault(name, []).append(body)
    return {f"templates/{name}": "".join(blocks) for name, blocks in sorted(files.items())}


_HELPERS = """{{/*
Names of an aphex release. Every object name derives from the instance (the release name), so two
releases never collide; generated by `aphex chart`, do not edit.
*/}}

{{/* The instance: the release name, a DNS label of at most 30 characters. */}}
{{- define "aphex.instance" -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" .Release.Name) -}}
{{- fail (printf "release name %q: must be a DNS label (a-z, 0-9, inner '-')" .Release.Name) -}}
{{- end -}}
{{- if gt (len .Release.Name) 30 -}}
{{- fail (printf "release name %q: at most 30 characters (object names derive from it)" .Release.Name) -}}
{{- end -}}
{{- .Release.Name -}}
{{- end -}}

{{/* The workflows namespace: the namespace value, or the release namespace when it is empty. */}}
{{- define "aphex.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{/* A WorkflowTemplate name: bare in the default instance "aphex", else prefixed with the instance. */}}
{{- define "aphex.templateName" -}}
{{- $instance := include "aphex.instance" (index . 0) -}}
{{- if eq $instance "DEFAULT_INSTANCE" -}}
{{- index . 1 -}}
{{- else -}}
{{- printf "%s-%s" $instance (index . 1) -}}
{{- end -}}
{{- end -}}

{{/* The name of an EventSource or Sensor: Argo Events puts it in a label and names Workflows after it. */}}
{{- define "aphex.eventsName" -}}
{{- if gt (len .) EVENTS_NAME_MAX -}}
{{- $why := "Argo Events puts it in a label and names the Workflows after it" -}}
{{- $fix := "shorten the release name, namespace or pipeline name" -}}
{{- fail (printf "%q is longer than EVENTS_NAME_MAX characters (%s); %s" . $why $fix) -}}
{{- end -}}
{{- . -}}
{{- end -}}

{{/* The implementation DAG's deadline, refused when shorter than its stages' deadlines in a row. */}}
{{- define "aphex.workflowDeadline" -}}
{{- $agents := ternary (add AGENTS 1) AGENTS .Values.components.docsStage -}}
{{- $budget := add STAGES (mul $agents (add VALIDATE .Values.agentDeadlineSeconds)) -}}
{{- if lt (int .Values.workflowDeadlineSeconds) (int $budget) -}}
{{- $fix := "raise it or lower agentDeadlineSeconds" -}}
{{- $why := printf "%d s with agentDeadlineSeconds %d" (int $budget) (int .Values.agentDeadlineSeconds) -}}
{{- $what := printf "workflowDeadlineSeconds: %d" (int .Values.workflowDeadlineSeconds) -}}
{{- fail (printf "%s is shorter than the stages of one run may take (%s); %s" $what $why $fix) -}}
{{- end -}}
{{- .Values.workflowDeadlineSeconds -}}
{{- end -}}

{{/* A request, refused when above its limit (Kubernetes refuses such a pod or quota), with the words of
aphex/dsl/quantities.py: (list <section holding requests and limits> <its path> <resource>). */}}
{{- define "aphex.request" -}}
{{- $section := index . 0 -}}
{{- $where := index . 1 -}}
{{- $resource := index . 2 -}}
{{- $request := index $section.requests $resource -}}
{{- $limit := index $section.limits $resource -}}
{{- $requested := include "aphex.quantity" (list $resource $request) | atoi -}}
{{- $allowed := include "aphex.quantity" (list $resource $limit) | atoi -}}
{{- if gt $requested $allowed -}}
{{- $what := printf "%s.requests.%s" $where $resource -}}
{{- fail (printf "%s: must be at most %s.limits.%s (%s)" $what $where $resource $limit) -}}
{{- end -}}
{{- $request -}}
{{- end -}}

{{/* A quantity of the values' grammar in millicores (cpu) or bytes: (list <resource> <quantity>). */}}
{{- define "aphex.quantity" -}}
{{- $resource := index . 0 -}}
{{- $quantity := toString (index . 1) -}}
{{- if and (eq $resource "cpu") (hasSuffix "m" $quantity) -}}
{{- trimSuffix "m" $quantity | atoi -}}
{{- else if eq $resource "cpu" -}}
{{- $parts := splitList "." $quantity -}}
{{- $fraction := ternary (last $parts) "" (eq (len $parts) 2) -}}
{{- add (mul (atoi (first $parts)) 1000) (atoi (trunc 3 (printf "%s000" $fraction))) -}}
{{- else -}}
{{- $number := regexFind "^[0-9]+" $quantity -}}
{{- $factors := dict STORAGE_FACTORS -}}
{{- mul (atoi $number) (index $factors (trimPrefix $number $quantity)) -}}
{{- end -}}
{{- end -}}

{{/* An image reference: registry/repository@digest when a digest is set, else registry/repository:tag. */}}
{{- define "aphex.image" -}}
{{- if .digest -}}
{{- printf "%s/%s@%s" .registry .repository .digest -}}
{{- else -}}
{{- printf "%s/%s:%s" .registry .repository .tag -}}
{{- end -}}
{{- end -}}
"""
for _placeholder, _value in (
    ("DEFAULT_INSTANCE", DEFAULT_INSTANCE),
    ("EVENTS_NAME_MAX", str(EVENTS_NAME_MAX)),
    ("AGENTS", str(AGENTS_WITHOUT_DOCS)),
    ("STAGES", str(sum(STAGE_TIMEOUT_SECONDS.values()))),
    ("VALIDATE", str(AGENT_VALIDATE_SECONDS)),
    (
        "STORAGE_FACTORS",
        " ".join(f"{json.dumps(suffix)} {factor}" for suffix, factor in STORAGE_FACTORS.items()),
    ),
):
    _HELPERS = _HELPERS.replace(_placeholder, _value)

_NOTES: Final = """aphex {{ .Chart.AppVersion }} is installed as release {{ .Release.Name }}.
{{- if .Values.components.implementationDag }}

Run the implementation DAG for a pull request:

{{- $dag := include "aphex.templateName" (list . "implementation-dag") }}
  argo submit -n {{ include "aphex.namespace" . }} --from workflowtemplate/{{ $dag }} \\
    -p owner=<owner> -p repo=<repo> -p pr=<number>

The preview of pull request N is served at https://<release>.{{ .Values.previewDomain }} from namespace
impl-pr-N. The reviewer's GitHub credentials are read from Secret {{ .Values.github.credentialsSecret }}
in namespace {{ include "aphex.namespace" . }} (key token, or app-id and private-key).
{{- end }}

{{- if .Values.components.events }}
{{- $source := printf "%s-%s-github" (include "aphex.instance" .) (include "aphex.namespace" .) }}
{{- $events := .Values.events }}

GitHub webhooks: the EventSource {{ $source }} (Service {{ $source }}-eventsource-svc)
in namespace {{ $events.namespace }} listens on port {{ $events.webhookPort }}, path
{{ $events.webhookEndpoint }}.
Expose it as {{ $events.webhookUrl }}{{ $events.webhookEndpoint }} and create the hook (content type
application/json; events push, pull_request, issues) with the shared secret stored in Secret
{{ $events.webhookSecretName }}, key {{ $events.webhookSecretKey }}, in that namespace. The chart
never creates that Secret.
{{- end }}

{{- if and .Values.components.pipeline .Values.pipelines }}

Aphex pipelines (ServiceAccounts <release>-<pipeline>-build|deploy|monitor|self-update):
{{- range .Values.pipelines }}
  WorkflowTemplate {{ include "aphex.templateName" (list $ .name) }}:
    pushes of {{ $.Values.events.githubOwner }}/{{ .repository }} to branch {{ $.Values.events.mainBranch }}
{{- end }}
Install each pipeline's WorkflowTemplate once from its repository (its self-update stage keeps it
current afterwards), with the values of this release:

  aphex compile --release {{ .Release.Name }} --namespace {{ .Release.Namespace }} \\
    --values <values.yaml> --config aphex-config.yaml --pipeline-only --out dist/
  kubectl apply --server-side --field-manager=aphex-pipeline -R -f dist/
{{- end }}

Check that the cluster has what the enabled components need (CRDs, namespaces, Secrets, EventBus):
  aphex verify --values <values.yaml> --release {{ .Release.Name }} --namespace {{ .Release.Namespace }}
or submit the cluster-verify template, which carries the same checks.
"""


def _values_yaml(schema: Mapping[str, Any], values: Mapping[str, Any], indent: int = 0) -> list[str]:
    lines: list[str] = []
    pad = " " * indent
    for key, child in schema["properties"].items():
        if lines and indent == 0:
            lines.append("")
        lines.append(f"{pad}# -- {child['description']}")
        if child.get("type") == "object" and "properties" in child:
            lines.append(f"{pad}{key}:")
            lines.extend(_values_yaml(child, values[key], indent + 2))
        else:
            flow = isinstance(values[key], (list, dict))
            scalar = yaml.safe_dump(values[key], default_flow_style=flow).removesuffix("\n...\n").strip()
            lines.append(f"{pad}{key}: {scalar}")
            if child.get("type") == "array" and child["items"].get("type") == "object":
                lines.extend(_entry_example(child["items"], f"{pad}#   ", first=True))
    return lines


def _entry_example(schema: Mapping[str, Any], pad: str, *, first: bool = False) -> list[str]:
    """A commented example entry of a list of sections, one line per field with its description."""
    lines: list[str] = []
    for index, (key, child) in enumerate(schema["properties"].items()):
        lead = pad[:-2] + "- " if first and index == 0 else pad
        if child.get("type") == "object":
            lines.append(f"{lead}{key}:  # {child['description']}")
            lines.extend(_entry_example(child, pad + "  "))
        else:
            lines.append(f"{lead}{key}: <{_snake_words(key)}>  # {child['description']}")
    return lines


def _snake_words(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", key).lower()


def chart_files(parts_builder: PartsBuilder) -> dict[str, str]:
    """Every file of the chart, relative path -> text."""
    defaults = BundleSettings()
    chart_yaml = {
        "apiVersion": "v2",
        "name": CHART_NAME,
        "description": DESCRIPTION,
        "type": "application",
        "version": defaults.version,
        "appVersion": defaults.version,
        "kubeVersion": KUBE_VERSION,
        "home": PROJECT_URL,
        "sources": [PROJECT_URL],
        "maintainers": [{"name": "aphex-dev", "url": PROJECT_URL}],
        "keywords": ["argo-workflows", "argo-events", "delivery", "preview-environments"],
        "annotations": {
            "artifacthub.io/license": "Apache-2.0",
            "artifacthub.io/category": "integration-delivery",
            "artifacthub.io/prerelease": "true" if defaults.version.startswith("0.") else "false",
        },
    }
    header = "# Generated by `aphex chart`; do not edit. Values are documented inline (# -- ...).\n"
    values_text = header + "\n".join(_values_yaml(VALUES_SCHEMA, default_values())) + "\n"
    files = {
        "Chart.yaml": header + dump_yaml(chart_yaml),
        "values.yaml": values_text,
        "values.schema.json": json.dumps(VALUES_SCHEMA, indent=2) + "\n",
        ".helmignore": "*.orig\n*.tmp\n.DS_Store\n.aphex-output\n",
        "README.md": chart_readme(CHART_NAME, DESCRIPTION, defaults, KUBE_VERSION),
        "templates/_helpers.tpl": _HELPERS,
        "templates/NOTES.txt": _NOTES,
        _VALUES_CHECKS: _values_checks(),
        **_templates(parts_builder),
    }
    return dict(sorted(files.items()))


def write_chart(parts_builder: PartsBuilder, out: Path) -> list[Path]:
    """Write the chart into ``out`` (replacing it atomically); return the files written."""
    return write_tree({Path(name): text for name, text in chart_files(parts_builder).items()}, out)
