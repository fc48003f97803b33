"""The ``metricbench`` command line: thin commands over the library's workflows."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from typer.core import TyperCommand

from metricbench import __version__
from metricbench.cli import auto, evaluate, extract, lfw, make_competition, metrics, retrieve, score
from metricbench.cli import synth
from metricbench.cli.common import CONTEXT_SETTINGS, MetricbenchCommand, MetricbenchGroup

app = typer.Typer(
    name="metricbench",
    help="Distances, learned metrics and honest evaluation for face-verification embeddings.\n\n"
    "Exit codes: 0 ok, 2 bad input or usage, 1 unexpected, 130 interrupted. "
    "Errors are one line; add --debug anywhere for the traceback.",
    cls=MetricbenchGroup,
    context_settings=CONTEXT_SETTINGS,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"metricbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (also METRICBENCH_DEBUG=1).")
    ] = False,
) -> None:
    """Distances, learned metrics and honest evaluation for face-verification embeddings."""


for _module in (score, evaluate, retrieve, metrics, make_competition, extract, lfw, auto, synth):
    _module.register(app)
for _command in app.registered_commands:  # every command gets the clean help, whoever registered it
    if _command.cls is None or _command.cls is TyperCommand:
        _command.cls = MetricbenchCommand


def main() -> None:
    app()


if __name__ == "__main__":  # python -m metricbench.cli.main
    main()
