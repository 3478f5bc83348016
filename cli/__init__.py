"""The ``dknet`` command-line interface (shipped inside the wheel as ``dknet.cli``).

Every command is a thin wrapper over one library function; heavy modules (torch, spconv, numba,
the engines) are imported inside the command functions so that ``dknet --help`` and
``dknet doctor`` start fast and work without CUDA, spconv or the compiled extension.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dknet import __version__
from dknet.errors import DKNetError

from . import _console
from ._errors import report
from .doctor import doctor
from .evaluate import evaluate
from .export_submission import export_submission
from .predict import predict
from .preprocess import preprocess
from .segment import segment
from .synth import synth
from .timing import timing
from .train import train

__all__ = ["app", "main"]

app = typer.Typer(
    name="dknet",
    help="3D instance segmentation of indoor scans with DKNet (ECCV 2022), on CPU or GPU.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
)


def _version_callback(value: bool) -> None:
    if value:
        _console.out.print(f"dknet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging (-v info, -vv debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    _console.configure(verbose=verbose, quiet=quiet)


def _guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command, turning a DKNetError into one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DKNetError as exc:
            if os.environ.get("DKNET_DEBUG") == "1":
                raise
            raise typer.Exit(report(exc)) from None

    return wrapper


for _name, _func in (
    ("doctor", doctor),
    ("synth", synth),
    ("preprocess", preprocess),
    ("evaluate", evaluate),
    ("export-submission", export_submission),
    ("segment", segment),
    ("predict", predict),
    ("train", train),
    ("timing", timing),
):
    app.command(name=_name)(_guarded(_func))


def main() -> None:
    """Console-script entry point: run the app, map domain errors to one line and exit 1."""
    try:
        app(standalone_mode=True)
    except DKNetError as exc:
        if os.environ.get("DKNET_DEBUG") == "1":
            raise
        sys.exit(report(exc))
