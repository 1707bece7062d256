"""How a step entrypoint ends on an error: one line on stderr, then the exit code that says its kind.

An invalid input exits with :data:`aphex.dsl.exit_codes.INVALID_INPUT`, which the templates' retry expression
excludes from retries; any other failure exits with :data:`aphex.dsl.exit_codes.FAILED` and is retried.
"""

import sys

from aphex.dsl.exit_codes import FAILED, INVALID_INPUT
from aphex.dsl.names import InvalidValue

__all__ = ["fail", "reject_input"]


def reject_input(error: InvalidValue) -> SystemExit:
    """Report an invalid input; raise the result (``raise reject_input(error) from None``)."""
    print(f"invalid parameter {error}", file=sys.stderr)
    return SystemExit(INVALID_INPUT)


def fail(error: Exception) -> SystemExit:
    """Report ``error``: an :class:`InvalidValue` is an invalid input, anything else a failure."""
    if isinstance(error, InvalidValue):
        return reject_input(error)
    print(str(error), file=sys.stderr)
    return SystemExit(FAILED)
