"""``aphex-config.yaml``: the configuration of an Aphex delivery pipeline, its schema and its model.

The JSON Schema ``aphex-config.schema.json`` is the single source of the format: :mod:`.validate` checks
documents against it and adds the rules a schema cannot express, :mod:`.model` is the typed result the
pipeline generator reads (``tools/config_docgen.py`` renders the reference in ``docs/configuration.md``), and
:mod:`.cloudformation` describes the pipeline's own AWS resources. ``aphex config validate FILE`` is
:mod:`.cli`.
"""

from aphex.dsl.config.model import AphexConfig, Environment, Stack
from aphex.dsl.config.validate import (
    ConfigError,
    ConfigProblem,
    config_from_document,
    load_config,
    validate_document,
    validate_text,
)

__all__ = [
    "AphexConfig",
    "ConfigError",
    "ConfigProblem",
    "Environment",
    "Stack",
    "config_from_document",
    "load_config",
    "validate_document",
    "validate_text",
]
