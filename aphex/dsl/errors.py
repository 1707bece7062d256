"""The exceptions aphex raises on purpose, under one base class.

Three kinds, by who must act:
- :class:`InputError`: what the user gave (values, aphex-config.yaml, parameters, options, files) cannot be
  used; the message names the field. Command lines exit 2 (:mod:`aphex.dsl.exit_codes` for step pods).
- :class:`DefinitionError`: a pipeline's Python definition cannot be built; a bug for the project to fix.
- :class:`ExecutionError`: the work failed while it ran (a command, an API call, a local run).
Each keeps the built-in exception it replaced as a second base, so ``except ValueError`` still catches
input and definition errors and ``except RuntimeError`` execution errors.
"""

__all__ = ["AphexError", "DefinitionError", "ExecutionError", "InputError"]


class AphexError(Exception):
    """Base of every exception aphex raises on purpose."""


class InputError(AphexError, ValueError):
    """Input that cannot be used; the message names the field or file."""


class DefinitionError(AphexError, ValueError):
    """A pipeline definition that cannot be built as written."""


class ExecutionError(AphexError, RuntimeError):
    """Work that failed while it ran."""
