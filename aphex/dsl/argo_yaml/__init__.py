"""Utilities for Argo Workflows YAML shared by the linter (:mod:`aphex.dsl.lint`), the local runner
(:mod:`aphex.dsl.run`) and the graph renderer (:mod:`aphex.dsl.graph`): the ``depends`` expression
tokenizer and parser (:mod:`.depends`) and the walk over an object's string values (:mod:`.leaves`).
"""

from aphex.dsl.argo_yaml.depends import RESULTS, DependsError, task_names, tokens
from aphex.dsl.argo_yaml.leaves import string_leaves

__all__ = ["RESULTS", "DependsError", "string_leaves", "task_names", "tokens"]
