"""The command-line options that name the release a command builds objects for, as Helm names them.

``aphex compile --release R --namespace N --values V`` builds what ``helm template R -n N -f V`` renders;
``aphex pipeline stack`` takes the same options, so a pipeline's names match its release's.
"""

import argparse

from aphex.dsl.settings import DEFAULT_INSTANCE, DEFAULT_NAMESPACE

__all__ = ["add_release_arguments"]


def add_release_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Add ``--release`` and ``--namespace`` (``--release`` defaults to the default instance unless
    ``required``)."""
    release_help = "the Helm release (instance) every object name derives from"
    if required:
        parser.add_argument("--release", required=True, help=release_help)
    else:
        release_help += " (default: %(default)s)"
        parser.add_argument("--release", default=DEFAULT_INSTANCE, help=release_help)
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help="the release namespace, as helm -n: the workflows namespace unless the values' namespace is "
        "set (default: %(default)s)",
    )
