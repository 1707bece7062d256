"""``aphex-config.yaml``: the configuration of an Aphex delivery pipeline, its schema and its model.

The JSON Schema ``aphex-config.schema.json`` is the single source of the format. Reading a file is
:mod:`.reading` (the hardened YAML loader with this file's limits); :mod:`.validate` checks a document
against the schema (:mod:`.schema`) and the rules a schema cannot express (:mod:`.rules`,
:mod:`.stack_rules`), each finding a :class:`ConfigProblem` (:mod:`.problems`) that never repeats a
credential (:mod:`.credentials`); :mod:`.load` builds :mod:`.model`, the typed result the pipeline generator
reads (``tools/config_docgen.py`` renders the reference in ``docs/configuration.md``), and
:mod:`.cloudformation` describes the pipeline's own AWS resources. ``aphex config validate FILE`` is
:mod:`.cli`.
"""

from aphex.dsl.config.load import config_from_document, load_config
from aphex.dsl.config.model import AphexConfig, Environment, Stack
from aphex.dsl.config.problems import ConfigError, ConfigProblem
from aphex.dsl.config.validate import validate_document, validate_text

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
