"""Every exception aphex defines derives from one base (aphex.dsl.errors.AphexError), one of three kinds."""

import importlib
import inspect
import pkgutil

import pytest

import aphex.dsl
import aphex.workflows
from aphex.dsl.errors import AphexError, DefinitionError, ExecutionError, InputError


def _modules() -> list[str]:
    names: list[str] = []
    for package in (aphex.dsl, aphex.workflows):
        names += [info.name for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]
    return sorted(names)


def _defined_exceptions() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for name in _modules():
        module = importlib.import_module(name)
        found += [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name
        ]
    return found


def test_the_project_defines_exceptions_and_every_one_has_the_project_base() -> None:
    defined = _defined_exceptions()
    assert len(defined) >= 20
    assert [cls.__qualname__ for cls in defined if not issubclass(cls, AphexError)] == []


@pytest.mark.parametrize(
    ("kind", "builtin"),
    [(InputError, ValueError), (DefinitionError, ValueError), (ExecutionError, RuntimeError)],
)
def test_each_kind_is_still_caught_as_the_builtin_it_replaced(
    kind: type[AphexError], builtin: type[Exception]
) -> None:
    with pytest.raises(builtin):
        raise kind("x")
