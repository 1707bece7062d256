"""Rules for the stacks of one environment: unique names, ``dependsOn`` naming a known stack, no cycles."""

from collections.abc import Mapping, Sequence
from typing import Any

from aphex.dsl.config.credentials import plain, shown
from aphex.dsl.config.problems import ConfigProblem, PathPart

__all__ = ["stack_problems"]


def stack_problems(
    where: tuple[PathPart, ...], env_name: str | None, stacks: list[Any]
) -> list[ConfigProblem]:
    """Duplicate names, unknown or self dependencies and cycles among ``stacks`` (at ``where``)."""
    problems: list[ConfigProblem] = []
    first: dict[str, int] = {}
    in_env = f" in environment {shown(env_name)}" if env_name is not None else ""
    for index, stack in enumerate(stacks):
        name = stack.get("name") if isinstance(stack, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in first:
            problems.append(
                ConfigProblem(
                    path=(*where, index, "name"),
                    message=f"duplicate stack name {shown(name)}{in_env} (also stacks[{first[name]}])",
                )
            )
        else:
            first[name] = index
    edges: dict[str, list[str]] = {name: [] for name in first}
    for index, stack in enumerate(stacks):
        if not isinstance(stack, Mapping):
            continue
        name = stack.get("name")
        deps = stack.get("dependsOn")
        if not isinstance(deps, list):
            continue
        for dep_index, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            at = (*where, index, "dependsOn", dep_index)
            if dep == name:
                problems.append(ConfigProblem(path=at, message="a stack cannot depend on itself"))
            elif dep not in first:
                known = ", ".join(shown(known) for known in first) or "none"
                problems.append(
                    ConfigProblem(path=at, message=f"no stack {shown(dep)}{in_env} (stacks: {known})")
                )
            elif isinstance(name, str) and first.get(name) == index and dep not in edges[name]:
                edges[name].append(dep)
    problems += [
        ConfigProblem(path=where, message="dependency cycle: " + " -> ".join(plain(n) for n in cycle))
        for cycle in _cycles(edges)
    ]
    return problems


def _cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One shortest cycle through the earliest member of every strongly connected component."""
    order = list(edges)
    reach: dict[str, set[str]] = {}
    for start in order:
        seen: set[str] = set()
        frontier = list(edges[start])
        while frontier:
            node = frontier.pop()
            if node not in seen:
                seen.add(node)
                frontier.extend(edges[node])
        reach[start] = seen
    cycles: list[list[str]] = []
    covered: set[str] = set()
    for start in order:
        if start in covered or start not in reach[start]:
            continue
        component = {node for node in reach[start] if start in reach[node]}
        covered |= component
        parents: dict[str, str] = {}
        queue = [start]
        found: str | None = None
        while queue and found is None:
            node = queue.pop(0)
            for dep in edges[node]:
                if dep == start:
                    found = node
                    break
                if dep in component and dep not in parents:
                    parents[dep] = node
                    queue.append(dep)
        path = [start]
        node = found if found is not None else start
        trail = []
        while node != start:
            trail.append(node)
            node = parents[node]
        path += reversed(trail)
        cycles.append([*path, start])
    return cycles
