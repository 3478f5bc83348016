"""`dknet doctor`: what is installed, what is built, and which backend each op uses."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._console import out
from ._options import JsonOutOpt


def doctor(
    json_out: JsonOutOpt = None,
    skip_spconv_check: Annotated[
        bool, typer.Option("--skip-spconv-check", help="Do not run the tiny CPU sparse-conv check.")
    ] = False,
) -> None:
    """Print versions, extension status (and why it is unavailable), op backends, spconv mode and
    visible GPUs. Paste this output into bug reports."""
    from dknet.engine.doctor import collect_environment
    from dknet.io.atomic import atomic_write_text

    report = collect_environment(run_spconv_check=not skip_spconv_check)

    table = Table(title="dknet doctor", show_header=False, title_justify="left")
    table.add_column("item", style="bold")
    table.add_column("value")

    def add(name: str, value: str) -> None:
        # Values come from the environment (paths, messages): never interpret them as markup.
        table.add_row(escape(name), escape(value))

    for name, version in report.versions.items():
        add(name, version)
    add("python", report.python)
    add("torch CUDA", report.torch_cuda or "none (CPU build)")
    if report.gpus:
        for gpu in report.gpus:
            add(f"GPU {gpu['index']}", f"{gpu['name']} (sm {gpu['capability']})")
    else:
        add("GPUs", "none visible")
    ext = report.extension
    ext_text = "built" if ext["available"] else f"not available ({ext['kind']}): {ext['message']}"
    add("extension dknet._ext", ext_text)
    if not ext["available"] and ext["fix"]:
        add("  fix", ext["fix"])
    if ext.get("build_info"):
        add("  build", ", ".join(f"{k}={v}" for k, v in ext["build_info"].items()))
    for device, ops in report.backends.items():
        add(f"op backends ({device})", ", ".join(f"{op}: {b}" for op, b in ops.items()))
    spconv = report.spconv
    add("spconv", f"{spconv['version']}, {spconv['mode']} mode, CPU check: {spconv['cpu_check']}")
    add("numba threads", str(report.numba_threads))
    bundled = report.default_model
    if bundled.get("status") == "ok":
        ap50 = bundled.get("unseen_ap50")
        scored = f", AP50 {ap50:.3f} on unseen synthetic rooms" if ap50 is not None else ""
        add("default model", f"ok ({bundled['megabytes']} MB{scored})")
    else:
        add("default model", f"[red]{escape(str(bundled.get('status')))}[/]")
    out.print(table)
    for problem in report.problems:
        out.print(f"[yellow]problem:[/] {escape(problem)}")
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2) + "\n")
        out.print(f"wrote {escape(str(json_out))}")
