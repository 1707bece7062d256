"""The exit codes of aphex's pod steps, and the retry expression that keeps them apart.

Argo retries a failed step as its ``retryStrategy`` says; ``retryStrategy.expression`` is evaluated after
each failed attempt with ``lastRetry.exitCode`` bound to the attempt's exit code **as a string**, and a
false result stops retrying (argo-workflows ``workflow/controller/operator.go``:
``buildRetryStrategyLocalScope`` binds it, ``processNodeRetries`` evaluates it). A step that rejects its
input exits with :data:`INVALID_INPUT`: another attempt would reject the same input, so it is never
retried, while any other failure keeps its backoff.
"""

from typing import Final

__all__ = ["FAILED", "INVALID_INPUT", "RETRY_UNLESS_INVALID_INPUT"]

FAILED: Final = 1
"""The step's work failed; a retry may help (network, a busy API, a flaky cluster)."""
INVALID_INPUT: Final = 2
"""The step's input is invalid (a parameter, a configuration value): retrying cannot fix it."""
RETRY_UNLESS_INVALID_INPUT: Final = f'lastRetry.exitCode != "{INVALID_INPUT}"'
"""``retryStrategy.expression`` of every retried step: keep retrying unless the input was rejected."""
