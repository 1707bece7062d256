"""Loading ``aphex-config.yaml`` into its model: read, validate, then build :class:`AphexConfig`."""

import os
from collections.abc import Mapping

from aphex.dsl.config.model import AphexConfig, config_from_validated
from aphex.dsl.config.problems import ConfigError
from aphex.dsl.config.reading import parse_text, read_config_file
from aphex.dsl.config.validate import validate_document

__all__ = ["config_from_document", "load_config"]


def config_from_document(data: object) -> AphexConfig:
    """Validate a parsed document and build the model; ``ConfigError`` lists every problem."""
    problems = validate_document(data)
    if problems:
        raise ConfigError(problems)
    assert isinstance(data, Mapping)
    return config_from_validated(data)


def load_config(source: str | bytes | os.PathLike[str]) -> AphexConfig:
    """Load a configuration from YAML text (``str`` or ``bytes``) or from a file (a path object).

    Raises ``ConfigError`` with every problem, ``OSError`` when the file cannot be read.
    """
    text = read_config_file(source) if isinstance(source, os.PathLike) else source
    data, problems = parse_text(text)
    if problems:
        raise ConfigError(problems)
    return config_from_document(data)
