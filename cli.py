"""Command-line interface. Each command only parses options and calls a library function that tests call too.

Commands are grouped in sections by stage; heavy imports (torch, bpy) happen inside the commands so that
`cli.py --help` stays instant.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click


class ToolkitGroup(click.Group):
    """Turns the toolkit's expected errors (bad datasets, bad configs, bad models) into one clear line and
    exit code 2 instead of a traceback."""

    def invoke(self, ctx):
        from synth.datasets.schema import DatasetError

        try:
            return super().invoke(ctx)
        except (DatasetError, FileNotFoundError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=ToolkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """PAMTRI toolkit: synthetic vehicle data, pose and ReID training, evaluation."""


# --- datasets (foundation) ---------------------------------------------------------------------------------


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--preview", type=click.Path(path_type=Path), help="Write a PNG grid of samples with labels drawn.")
@click.option("--preview-count", default=24, show_default=True, help="Samples in the preview grid.")
@click.option("--decode-all/--decode-sample", default=False, help="Decode every image, not a random subset.")
@click.option("--seed", default=0, show_default=True, help="Which samples the preview and decode check pick.")
def inspect(dataset_dir, preview, preview_count, decode_all, seed):
    """Validate a dataset directory, print a summary, optionally draw a preview grid."""
    from synth.datasets.inspect import draw_preview, format_summary
    from synth.datasets.validate import validate_dataset

    report = validate_dataset(dataset_dir, decode="all" if decode_all else 64, seed=seed)
    click.echo(format_summary(report))
    if preview:
        draw_preview(dataset_dir, preview, count=preview_count, seed=seed)
        click.echo(f"preview: {preview}")
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)


# --- the main job ------------------------------------------------------------------------------------------


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True)
@click.option("--config", "config_file", type=click.Path(exists=True, path_type=Path), help="Demo config YAML.")
def demo(out, config_file):
    """Run the demo pipeline on small built-in defaults."""
    from synth.demo import DemoConfig, run_demo

    config = DemoConfig.from_yaml(config_file) if config_file else DemoConfig()
    run_demo(config, out)


# --- assets (vehicle models) -------------------------------------------------------------------------------

# --- rendering ---------------------------------------------------------------------------------------------

# --- real datasets: import / export ------------------------------------------------------------------------

# --- pose --------------------------------------------------------------------------------------------------

# --- reid --------------------------------------------------------------------------------------------------

# --- evaluation --------------------------------------------------------------------------------------------


if __name__ == "__main__":
    main()
