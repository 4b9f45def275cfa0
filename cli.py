"""Command-line interface. Each command only parses options and calls a library function that tests call too.

Commands are grouped in sections by stage; heavy imports (torch, bpy) happen inside the commands so that
`cli.py --help` stays instant.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import sys
from pathlib import Path

import click


PROJECT_LOGGERS = ("synth", "train", "eval", "pamtri")  # the toolkit's own loggers ("pamtri.cli": this file)
DIST_NAME = "pamtri-synth"  # the distribution name in pyproject.toml
log = logging.getLogger("pamtri.cli")

# `--help` lists the commands by stage, in the order a project runs them.
COMMAND_SECTIONS = (
    ("Whole pipeline", ("demo",)),
    ("Data", ("assets", "render", "backgrounds", "import", "inspect")),
    ("Pose", ("train-pose", "predict-pose", "evaluate-pose")),
    ("ReID", ("train-reid", "extract-reid", "evaluate-reid", "search")),
    ("Export", ("export",)),
)
# Former names, still accepted (hidden from --help, with a note) so that existing scripts keep working.
COMMAND_ALIASES = {"pose-accuracy": "evaluate-pose", "extract": "extract-reid", "evaluate": "evaluate-reid"}


def toolkit_version() -> str:
    """The installed distribution's version; in a source checkout that is not installed, pyproject.toml's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DIST_NAME)
    except PackageNotFoundError:
        pass
    try:
        import tomllib

        with open(Path(__file__).with_name("pyproject.toml"), "rb") as f:
            return str(tomllib.load(f)["project"]["version"]) + " (source checkout)"
    except (OSError, KeyError, ValueError):
        return "unknown"


def require_bpy(command: str) -> None:
    """Rendering and the vehicle models need bpy, an optional dependency (the `render` extra): without it, one
    clear line (exit code 2) instead of an ImportError deep in a render worker. Looks bpy up without importing it."""
    import importlib.util

    if importlib.util.find_spec("bpy") is None:
        raise ValueError(f"`{command}` needs bpy (Blender as a Python module), which is not installed: "
                         f"pip install '{DIST_NAME}[render]' (CPython 3.11)")


def configure_logging(verbosity: int = 0, quiet: bool = False, debug: bool = False):
    """The one logging set-up of the command line: a handler on the root logger writing to stderr.

    The toolkit's loggers (synth, train, eval) show INFO by default (weights loaded or not, resumes, missing
    splits), WARNING with --quiet, DEBUG with -v or --debug; other libraries show warnings, and everything at
    DEBUG with -vv. With --debug each line names its level and logger. Where the root logger already has a
    handler that is not ours (an embedding application, pytest's capture), none is added: theirs decide."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_pamtri", False):
            root.removeHandler(handler)
    if quiet:
        own, other = logging.WARNING, logging.ERROR
    elif verbosity >= 2:
        own, other = logging.DEBUG, logging.DEBUG
    elif verbosity >= 1 or debug:
        own, other = logging.DEBUG, logging.WARNING
    else:
        own, other = logging.INFO, logging.WARNING
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(own)
    if root.handlers:
        return None
    handler = _ConsoleHandler()
    handler._pamtri = True
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s"))
    root.addHandler(handler)
    root.setLevel(other)
    return handler


class _ConsoleHandler(logging.StreamHandler):
    """Log lines on stderr (whatever sys.stderr is at the time); while tqdm is loaded they go through
    tqdm.write, which clears the progress bars, writes the line and redraws them, so lines never break a bar."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass

    def emit(self, record):
        tqdm = sys.modules.get("tqdm")  # not imported here: no bar can be on screen before tqdm is loaded
        if tqdm is None:
            return super().emit(record)
        try:
            tqdm.tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def no_progress_bars():
    """No tqdm bar is drawn inside this block (--quiet), whatever `disable` the code creating it passes."""
    from tqdm import std

    original = std.tqdm.__init__

    @functools.wraps(original)
    def disabled(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = disabled
    try:
        yield
    finally:
        std.tqdm.__init__ = original


def _alias(command: click.Command, old_name: str) -> click.Command:
    """`command` under its former name: hidden from --help, and a note naming the new name when it runs."""
    alias = copy.copy(command)
    alias.name, alias.hidden = old_name, True
    callback = command.callback

    @functools.wraps(callback)
    def run(*args, **kwargs):
        log.warning("note: `%s` is now called `%s` (the old name still works)", old_name, command.name)
        return callback(*args, **kwargs)

    alias.callback = run
    return alias


class ToolkitGroup(click.Group):
    """The command group: commands listed by stage in pipeline order (COMMAND_SECTIONS), former names
    accepted (COMMAND_ALIASES), and the toolkit's expected errors (bad datasets, bad configs, bad models) as
    one clear line and exit code 2 instead of a traceback; `--debug` keeps the traceback."""

    def list_commands(self, ctx):
        rank = {name: i for i, name in enumerate(n for _, names in COMMAND_SECTIONS for n in names)}
        return sorted(self.commands, key=lambda name: (rank.get(name, len(rank)), name))

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands and COMMAND_ALIASES.get(cmd_name) in self.commands:
            return _alias(self.commands[COMMAND_ALIASES[cmd_name]], cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter):
        shown = {name: command for name in self.list_commands(ctx)
                 if (command := self.get_command(ctx, name)) is not None and not command.hidden}
        if not shown:
            return
        width = max(map(len, shown))
        sections = [(title, [n for n in names if n in shown]) for title, names in COMMAND_SECTIONS]
        listed = {n for _, names in sections for n in names}
        sections.append(("Other commands", [n for n in shown if n not in listed]))
        for title, names in sections:
            if names:
                with formatter.section(title):
                    formatter.write_dl([(n.ljust(width), shown[n].get_short_help_str(formatter.width - width - 6))
                                        for n in names])

    def invoke(self, ctx):
        # imported when the command runs: start-up and --help load no torch or bpy
        from synth.datasets.schema import DatasetError

        try:
            return super().invoke(ctx)
        except (DatasetError, FileNotFoundError, ValueError) as exc:
            if ctx.meta.get("pamtri.debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


def _print_version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(f"pamtri {toolkit_version()}")
        ctx.exit()


@click.group(cls=ToolkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the toolkit's version and exit.")
@click.option("-v", "--verbose", count=True, help="More log output: -v the toolkit's debug messages, -vv everyone's.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
@click.option("--debug", is_flag=True, help="Debug log output, and a full traceback instead of the one-line error.")
@click.pass_context
def main(ctx, verbose, quiet, debug):
    """PAMTRI toolkit: synthetic vehicle data, pose and ReID training, evaluation."""
    if quiet and (verbose or debug):
        raise click.UsageError("--quiet cannot be combined with -v/--verbose or --debug")
    ctx.meta["pamtri.debug"] = debug
    configure_logging(verbose, quiet, debug)
    if quiet:
        ctx.with_resource(no_progress_bars())


class _LegacyDatasets(click.Argument):
    """Datasets listed after one --data (the former way to pass several): still read, with a note, and left
    out of the usage line; `--data` repeated is the way."""

    def get_usage_pieces(self, ctx):
        return []


def legacy_datasets(command):
    return click.argument("more_data", nargs=-1, type=click.Path(path_type=Path), cls=_LegacyDatasets)(command)


def datasets(data, more_data) -> list[Path]:
    """The dataset directories of a command: every --data, then any listed after one --data (deprecated)."""
    if more_data:
        log.warning("note: several datasets after one --data are deprecated; repeat --data: %s",
                    " ".join(f"--data {d}" for d in (*data, *more_data)))
    return [*data, *more_data]


def config_options(config_class: str, example: str):
    """--config FILE and --set KEY=VALUE, alike on every command that runs from a typed config."""

    def decorate(command):
        command = click.option(
            "--set", "overrides", multiple=True, metavar="KEY=VALUE",
            help=f"Change one {config_class} key for this run (dotted key, value as YAML; repeatable); applied "
                 f"after --config, and the command's other options win over it. E.g. --set {example}.")(command)
        return click.option(
            "--config", "config_file", type=click.Path(exists=True, path_type=Path),
            help=f"{config_class} YAML: what it changes from the defaults; may name `_base_` files.")(command)

    return decorate


# --- datasets (foundation) ---------------------------------------------------------------------------------


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--preview", type=click.Path(path_type=Path), help="Write a PNG grid of samples with labels drawn.")
@click.option("--preview-count", default=24, show_default=True, help="Samples in the preview grid.")
@click.option("--decode-all/--decode-sample", default=False, help="Decode every image, not a random subset.")
@click.option("--crops", type=click.Path(path_type=Path),
              help="Write a sheet of unlabelled crops at traffic-camera sizes (95-260 px), to judge realism by eye.")
@click.option("--seed", default=0, show_default=True, help="Which samples the preview and decode check pick.")
def inspect(dataset_dir, preview, preview_count, crops, decode_all, seed):
    """Validate a dataset directory, print a summary, optionally draw a preview grid and a crop sheet."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.inspect import draw_crop_sheet, draw_preview, format_summary
    from synth.datasets.validate import validate_dataset

    report = validate_dataset(dataset_dir, decode="all" if decode_all else 64, seed=seed)
    click.echo(format_summary(report))
    if preview:
        draw_preview(dataset_dir, preview, count=preview_count, seed=seed)
        click.echo(f"preview: {preview}")
    if crops:
        draw_crop_sheet(dataset_dir, crops, count=preview_count, seed=seed)
        click.echo(f"crop sheet: {crops}")
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(1)


# --- the main job ------------------------------------------------------------------------------------------


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/demo"), show_default=True)
@config_options("DemoConfig", "num_images=500")
def demo(out, config_file, overrides):
    """Run the whole pipeline on small built-in defaults: render, train pose, predict pose, train ReID,
    evaluate on held-out identities, write a report (the config it used: <out>/demo_config.yaml)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from pipelines.demo import DemoConfig, run_demo

    require_bpy("demo")
    run_demo(DemoConfig.load(config_file, overrides), out)


# --- assets (vehicle models) -------------------------------------------------------------------------------


@main.group()
def assets():
    """Vehicle models: build the procedural library, check a models directory."""


@assets.command("build")
@click.option("--out", type=click.Path(path_type=Path), default=Path("assets"), show_default=True,
              help="Models directory to write (one folder per model).")
@click.option("--n", "count", type=int, default=None, help="Make this many models (default: the shipped library).")
@click.option("--seed", type=int, default=None, help="Generator seed (default: the shipped library's).")
@click.option("--force", is_flag=True, help="Rebuild models that are already complete.")
def assets_build(out, count, seed, force):
    """Generate procedural vehicles with their keypoints (resumes: complete models are kept)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.blender.vehicles import build_library
    from synth.vehicles.params import DEFAULT_SEED

    require_bpy("assets build")
    folders = build_library(out, seed=DEFAULT_SEED if seed is None else seed, n=count, force=force)
    click.echo(f"{len(folders)} models in {out}")


@assets.command("check")
@click.option("--models", type=click.Path(path_type=Path), default=Path("assets"), show_default=True,
              help="Models directory (the shipped library or your own models).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write a contact sheet PNG: every model from a few viewpoints, keypoints numbered.")
@click.option("--tol", type=float, default=0.02, show_default=True, help="Max keypoint distance to the surface (m).")
@click.option("--samples", type=int, default=12, show_default=True, help="Cycles samples per view of the sheet.")
@click.option("--only", multiple=True, help="Restrict to these model names (repeatable).")
def assets_check(models, out, tol, samples, only):
    """Validate every model (sidecar, keypoints on the surface) and optionally draw a contact sheet."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.blender.vehicles import check_asset_surface
    from synth.vehicles.library import load_library

    require_bpy("assets check")
    library = load_library(models)
    if only:
        library = [a for a in library if a.name in set(only)]
    worst = 0.0
    for asset in library:
        worst = max(worst, float(check_asset_surface(asset, tol).max()))
    click.echo(f"{len(library)} models OK; largest keypoint-to-surface distance {worst * 100:.2f} cm")
    if out:
        # imported when the command runs: start-up and --help load no torch or bpy
        from synth.blender.vehicle_sheet import contact_sheet

        contact_sheet(library, out, samples=samples)
        click.echo(f"contact sheet: {out}")


@assets.command("import")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Models directory to write into.")
@click.option("--type", "type_name", default=None, help="VeRi type (default: guessed from the proportions).")
@click.option("--name", default=None, help="Model (folder) name; one file only (default: the file's name).")
@click.option("--length", type=float, default=None, help="Vehicle length in metres (default: from the unit).")
@click.option("--fix", "fixes", multiple=True, metavar="INDEX=x,y,z",
              help="Set keypoint INDEX (metres, vehicle frame; its mirror twin follows); kept across re-imports.")
@click.option("--licence", default=None, help="Licence recorded in the provenance (e.g. CC0-1.0, CC-BY-4.0).")
@click.option("--source", "source_url", default=None, help="Where the model came from (URL), for the provenance.")
@click.option("--keep-detail", is_flag=True,
              help="Keep parts whose triangles are finer than 1/500 of the length (default: decimated).")
def assets_import(sources, out, type_name, name, length, fixes, licence, source_url, keep_detail):
    """Import vehicle models (.glb/.gltf/.obj/.fbx/.blend/.stl/.ply/.usd, or folders of them): frame, metres,
    wheels on the ground, material roles and the 36 keypoints placed from the geometry (docs/ASSETS.md)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.blender.model_import import IMPORT_SUFFIXES, import_model
    from synth.vehicles.importer import ImportFailure

    require_bpy("assets import")
    files = []
    for src in sources:
        if src.is_dir():
            found = sorted(f for f in src.rglob("*") if f.suffix.lower() in IMPORT_SUFFIXES and f.is_file())
            if not found:
                raise click.ClickException(f"{src}: no model files ({', '.join(IMPORT_SUFFIXES)})")
            files += found
        else:
            files.append(src)
    if name and len(files) > 1:
        raise click.ClickException("--name needs exactly one model file")
    if (fixes or length) and len(files) > 1:
        raise click.ClickException("--fix and --length apply to one model file at a time")
    failed = 0
    for f in files:
        try:
            folder, res = import_model(f, out, name=name, type_name=type_name, length=length, fixes=list(fixes),
                                       licence=licence, source=source_url, keep_detail=keep_detail)
        except (ImportFailure, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        guessed = " (guessed from proportions: " + ", ".join(f"{t} {v:.0%}" for t, v in res.type_scores.items()) \
            + ")" if res.type_guessed else ""
        d = res.dimensions
        click.echo(f"{folder}: {res.type_name}{guessed}; unit {res.unit} (x{res.scale:.4g}); "
                   f"{d['length']:.2f} x {d['width']:.2f} x {d['height']:.2f} m; paint {', '.join(res.paint_materials) or 'none (textured body kept, fixed colour)'}")
        look = [f"{i}/{i + 18} ({m['method']})" for i, m in enumerate(res.methods) if m["confidence"] != "measured"]
        if look:
            click.echo("  check on the contact sheet (inferred/guessed): " + "; ".join(look))
        for note in res.notes:
            if note.startswith("decimated"):
                click.echo(f"  {note}")
        for w in res.warnings:
            click.echo(f"  warning: {w}")
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} models not imported")

# --- rendering ---------------------------------------------------------------------------------------------


@main.command()
@click.option("--models", "models_dir", type=click.Path(path_type=Path), multiple=True, default=[Path("assets")],
              show_default=True, help="Vehicle model library (one folder per model); repeat it to render from "
              "several as one (e.g. --models assets --models my_models).")
@click.option("--n", "n", type=int, default=41000, show_default=True, help="Images in the whole dataset.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset directory to write.")
@click.option("--seed", default=0, show_default=True, help="Global seed: sample i depends on (config, seed, i).")
@click.option("--size", type=int, default=None,
              help="Output image long side in pixels (the short side follows the vehicle's box) [default: config, 256].")
@config_options("RenderConfig (docs/RENDER.md)", "occlusion2d.prob=0.2")
@click.option("--backgrounds", type=click.Path(path_type=Path), help="Folder of real background frames.")
@click.option("--workers", type=int, default=None, help="Render processes [default: one per core].")
@click.option("--shard", "shard_spec", default="0/1", show_default=True,
              help="K/N: render only the shards whose index is K mod N (N machines, one dataset).")
def render(models_dir, n, out, seed, size, config_file, overrides, backgrounds, workers, shard_spec):
    """Render labelled synthetic vehicle images into HDF5 shards (resumes: complete shards are skipped)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.render import parse_shard, render_dataset
    from synth.scene import RenderConfig

    require_bpy("render")
    config = RenderConfig.load(config_file, overrides)
    if size is not None:  # 0 or a negative size is refused by name (render_dataset), not taken as "default"
        config.image.size = size
    models = models_dir[0] if len(models_dir) == 1 else list(models_dir)
    report = render_dataset(models, out, n, seed=seed, config=config, backgrounds=backgrounds,
                            workers=workers, shard=parse_shard(shard_spec))
    rate = report.images / report.seconds if report.seconds else 0.0
    click.echo(f"{out}: {len(report.written)} shard(s) written, {len(report.skipped)} already complete; "
               f"{report.images} images in {report.seconds:.0f} s ({rate:.2f} images/s), "
               f"peak worker memory {report.peak_rss_mb:.0f} MB")


@main.command()
@click.option("--videos", type=click.Path(exists=True, path_type=Path), required=True,
              help="Folder of traffic videos (e.g. CityFlow's <scene>/<camera>/vdo.avi).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for background images.")
@click.option("--median-frames", default=50, show_default=True, help="Frames in each temporal median.")
@click.option("--sampled-frames", default=10, show_default=True, help="Plain frames kept per video.")
def backgrounds(videos, out, median_frames, sampled_frames):
    """Extract vehicle-free backgrounds (temporal median per camera) and sampled frames from videos."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.backgrounds import extract_backgrounds

    written = extract_backgrounds(videos, out, median_frames=median_frames, sampled_frames=sampled_frames)
    click.echo(f"{out}: {len(written)} background image(s)")


# --- real datasets: import / export ------------------------------------------------------------------------


def _import_options(command):
    """Options every importer shares."""
    command = click.option("--no-progress", is_flag=True, help="No progress bar.")(command)
    command = click.option("--skip-bad", is_flag=True,
                           help="Skip bad rows and images (counted and listed) instead of stopping at the first.")(command)
    command = click.option("--shard-size", default=2000, show_default=True, help="Samples per shard.")(command)
    return command


@main.group(name="import")
def import_group():
    """Convert a real dataset into a dataset directory (docs/IMPORT.md). Re-running resumes."""


@import_group.command("veri")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="VeRi-776 folder.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset directory to write.")
@_import_options
def import_veri_cmd(root, out, shard_size, skip_bad, no_progress):
    """VeRi-776: train, query and gallery with identity, camera, colour and type."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.importers import import_veri

    click.echo(import_veri(root, out, shard_size=shard_size, skip_bad=skip_bad, progress=not no_progress).format())


@import_group.command("cityflow")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="CityFlow-ReID (AIC19 track 2) folder.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset directory to write.")
@click.option("--val-ids", default=0, show_default=True,
              help="Hold out this many training identities as a labelled query/gallery split.")
@click.option("--seed", default=0, show_default=True, help="Which identities are held out.")
@click.option("--challenge/--no-challenge", default=True, show_default=True,
              help="Also import the unlabelled official query/test images (challenge_query/challenge_gallery).")
@_import_options
def import_cityflow_cmd(root, out, val_ids, seed, challenge, shard_size, skip_bad, no_progress):
    """CityFlow-ReID: training identities and cameras; validation split on request."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.importers import import_cityflow

    report = import_cityflow(root, out, val_ids=val_ids, seed=seed, challenge=challenge, shard_size=shard_size,
                             skip_bad=skip_bad, progress=not no_progress)
    click.echo(report.format())


@import_group.command("pamtri-csv")
@click.option("--csv", "csv_file", required=True, type=click.Path(path_type=Path), help="PAMTRI label CSV.")
@click.option("--images", required=True, type=click.Path(path_type=Path), help="Folder of the images it names.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset directory to write into.")
@click.option("--split", default=None, help="Split to write [default: from label_<split>.csv; ReID test -> gallery].")
@click.option("--format", "fmt", type=click.Choice(["auto", "pose", "reid"]), default="auto", show_default=True,
              help="pose: 111 fields; reid: 112 fields; auto: by the field count.")
@_import_options
def import_pamtri_csv_cmd(csv_file, images, out, split, fmt, shard_size, skip_bad, no_progress):
    """One PAMTRI pose or ReID CSV and its images as one split (run once per CSV)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.importers import import_pamtri_csv

    report = import_pamtri_csv(csv_file, images, out, split=split, fmt=fmt, shard_size=shard_size,
                               skip_bad=skip_bad, progress=not no_progress)
    click.echo(report.format())


@import_group.command("images")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Folder of vehicle crops (searched recursively).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset directory to write.")
@click.option("--labels", type=click.Path(path_type=Path),
              help="CSV with a header: image (relative path), vehicle_id, camera_id, color_id, type_id, split (docs/OWN_DATA.md).")
@click.option("--veri-names", is_flag=True, help="Identity and camera from VeRi-style names VVVV_cCCC_....jpg.")
@click.option("--split", default="gallery", show_default=True, help="Split of the images (of CSV rows without one).")
@_import_options
def import_images_cmd(root, out, labels, veri_names, split, shard_size, skip_bad, no_progress):
    """Any folder of vehicle crops: labelled from a CSV, from VeRi-style names, or unlabelled."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.importers.images import import_images

    report = import_images(root, out, labels=labels, veri_names=veri_names, split=split, shard_size=shard_size,
                           skip_bad=skip_bad, progress=not no_progress)
    click.echo(report.format())


@main.group(name="export")
def export_group():
    """Write a dataset directory in another toolkit's format (docs/IMPORT.md), or a network as ONNX (docs/OWN_DATA.md)."""


@export_group.command("pamtri-csv")
@click.option("--data", required=True, type=click.Path(path_type=Path), help="Dataset directory to export.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for reid/ and pose/ layouts.")
@click.option("--splits", default=None, help="Comma-separated splits [default: all].")
@click.option("--keypoints", type=click.Choice(["auto", "pose", "labels"]), default="auto", show_default=True,
              help="ReID CSV keypoints: pose sidecar predictions, ground-truth labels, or the sidecar when present.")
@click.option("--pose-maps", is_flag=True, help="Also write sidecar heatmaps/segments as per-image JPEG folders.")
@click.option("--visibility", type=click.Choice(["geometric", "annotator"]), default="geometric", show_default=True,
              help="Label visibility: what is seen, or VeRi's marking habits (a render's annotator_visibility).")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty output folder.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def export_pamtri_cmd(data, out, splits, keypoints, pose_maps, visibility, overwrite, no_progress):
    """The published PAMTRI code's folders and CSVs (MultiTaskNet and PoseEstNet)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from synth.datasets.export import export_pamtri

    chosen = [s.strip() for s in splits.split(",") if s.strip()] if splits else None
    report = export_pamtri(data, out, splits=chosen, keypoints=keypoints, pose_maps=pose_maps, overwrite=overwrite,
                           progress=not no_progress, visibility=visibility)
    click.echo(report.format())


@export_group.command("onnx")
@click.option("--model", "model_run", required=True, type=click.Path(path_type=Path), help="Pose or ReID run directory or checkpoint file.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="ONNX file to write (a <file>.json report beside it).")
@click.option("--checkpoint", "which", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--data", multiple=True, type=click.Path(path_type=Path),
              help="Dataset directory for the real-input parity check (default: the run's training data).")
@click.option("--opset", default=17, show_default=True, help="ONNX opset version.")
def export_onnx_cmd(model_run, out, which, data, opset):
    """A pose or ReID network as ONNX (dynamic batch), verified with onnxruntime (max abs diff <= 1e-4)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from train.export_onnx import export_onnx

    click.echo(export_onnx(model_run, out, which=which, data=list(data) or None, opset=opset).format())


# --- pose --------------------------------------------------------------------------------------------------


@main.command("train-pose")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path), help="Dataset directory (repeatable: synthetic and real).")
@legacy_datasets
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory (resumes when it has checkpoints/last.pt).")
@click.option("--weights", multiple=True, type=float, help="Sampling weight per --data directory, in order, repeatable (default: by size).")
@config_options("PoseConfig", "augment.rotation=30")
@click.option("--tiny", is_flag=True, help="Start from the small CPU configuration (hrnet_w18_small, 64 px) of the same code.")
@click.option("--backbone", help="timm HRNet name (hrnet_w32, hrnet_w18_small, ...).")
@click.option("--input-size", type=int, help="Square input size (heatmaps are a quarter of it).")
@click.option("--pretrained", type=click.Path(exists=True, path_type=Path), help="ImageNet weights file for the backbone.")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int, help="Per process.")
@click.option("--lr", type=float)
@click.option("--train-occluded/--visible-only", default=None, help="Also train on occluded keypoints (synthetic data knows them).")
@click.option("--visibility", type=click.Choice(["geometric", "annotator"]),
              help="Codes that weight the loss: what is seen, or VeRi's marking habits (annotator_visibility).")
@click.option("--workers", type=int)
@click.option("--device", help="auto, cpu, cuda, cuda:N.")
@click.option("--no-resume", is_flag=True, help="Refuse to continue an existing run instead of resuming it.")
def train_pose_command(data, more_data, out, weights, config_file, overrides, tiny, backbone, input_size, pretrained,
                       epochs, batch_size, lr, train_occluded, visibility, workers, device, no_resume):
    """Train the HRNet pose network on synthetic and/or real datasets (runs under torchrun too)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from train.pose.config import PoseConfig
    from train.pose.train import train_pose

    last = out / "checkpoints" / "last.pt"
    if last.exists() and no_resume:
        raise ValueError(f"{out}: run exists (checkpoints/last.pt); use another --out or drop --no-resume")
    if not config_file and last.exists() and (out / "config.yaml").exists():
        config = PoseConfig.load(out / "config.yaml", overrides)  # resuming: the run's own settings
    else:
        config = PoseConfig.load(config_file, overrides, base=PoseConfig.tiny() if tiny else None)
    dirs = [str(d) for d in datasets(data, more_data)]
    if dirs:
        config.data = dirs
    if weights:
        config.weights = list(weights)
    for key, value in (("backbone", backbone), ("input_size", input_size), ("pretrained", pretrained)):
        if value is not None:
            setattr(config.model, key, str(value) if key == "pretrained" else value)
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr), ("train_occluded", train_occluded),
                       ("visibility", visibility), ("workers", workers), ("device", device)):
        if value is not None:
            setattr(config, key, value)
    history = train_pose(config, out, resume=not no_resume, say=click.echo)
    if history and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary line
        click.echo(f"done: {len(history)} epochs, last PCK {history[-1].get('pck_mean', float('nan')):.4f}; run: {out}")


@main.command("predict-pose")
@click.option("--model", "model_run", type=click.Path(path_type=Path), required=True, help="Pose run directory or checkpoint file.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path), required=True, help="Dataset directory (repeatable).")
@legacy_datasets
@click.option("--batch-size", default=32, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--flip-test/--no-flip-test", default=None, help="Average with the mirrored input (default: the run's setting).")
@click.option("--stretched-crop", is_flag=True, help="Store crop-frame heatmaps stretched over the image, as the published code did.")
@click.option("--overwrite", is_flag=True, help="Redo sidecars that are already complete.")
def predict_pose_command(model_run, data, more_data, batch_size, workers, device, flip_test, stretched_crop, overwrite):
    """Write <shard>.pose.h5 (keypoints, heatmaps, segments) beside every shard of the datasets."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from train.pose.predict import predict_pose

    written = predict_pose(model_run, datasets(data, more_data), batch_size=batch_size, device=device, workers=workers,
                           flip_test=flip_test, stretched_crop=stretched_crop, overwrite=overwrite, say=click.echo)
    click.echo(f"wrote {len(written)} pose sidecar(s)")


@main.command("evaluate-pose")
@click.option("--model", "model_run", type=click.Path(path_type=Path), required=True, help="Pose run directory or checkpoint file.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path), required=True, help="Labelled dataset directory (repeatable).")
@click.option("--split", help="Split to evaluate (default: all).")
@click.option("--out", type=click.Path(path_type=Path), help="Write pose_accuracy.json and pose_examples.png here.")
@click.option("--mode", type=click.Choice(["correct", "published"]), default="correct", show_default=True,
              help="'published' reproduces the PAMTRI code's buggy ~constant threshold (comparison only).")
@click.option("--box-size", type=click.Choice(["sqrt_area", "diagonal"]), default="sqrt_area", show_default=True)
@click.option("--visibility", type=click.Choice(["geometric", "annotator"]),
              help="Codes that say which keypoints are scored (default: the run's).")
@click.option("--batch-size", default=32, show_default=True)
@click.option("--workers", default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
def evaluate_pose_command(model_run, data, split, out, mode, box_size, visibility, batch_size, workers, device):
    """PCK per body part and mean (paper's Table 5 layout), plus a picture of good and bad cases."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from pipelines.pose_accuracy import evaluate_pose

    evaluate_pose(model_run, list(data), split=split, out_dir=out, batch_size=batch_size, device=device,
                  workers=workers, mode=mode, box_size=box_size, visibility=visibility, say=click.echo)


# --- reid --------------------------------------------------------------------------------------------------


@main.command("train-reid")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path), help="Dataset directory (repeatable: real + synthetic = RS).")
@legacy_datasets
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run directory (resumes when it has checkpoints/last.pt).")
@config_options("ReidConfig", "erase_prob=0.3")
@click.option("--backbone", help="densenet121 (the paper's), densenet_tiny, or any timm model name.")
@click.option("--inputs", type=click.Choice(["rgb", "heatmaps", "segments"]), help="Extra input channels: none, H (36) or S (13).")
@click.option("--keypoints/--no-keypoints", default=None, help="K: concatenate the 108 keypoint values after pooling.")
@click.option("--multitask/--no-multitask", default=None, help="MT: colour and type heads.")
@click.option("--loss", type=click.Choice(["xent", "htri", "xent+htri"]))
@click.option("--bnneck/--no-bnneck", default=None, help="Batch-norm neck before the identity classifier (not the paper's; lets the identity loss learn under xent+htri without ImageNet weights).")
@click.option("--image-size", type=int, help="Square input size (default 256).")
@click.option("--epochs", type=int)
@click.option("--pk", nargs=2, type=int, help="P identities x K images per batch (default 8 4).")
@click.option("--lr", type=float)
@click.option("--weights", "weights_path", type=click.Path(exists=True, path_type=Path), help="ImageNet weights file for the backbone.")
@click.option("--no-pretrained", is_flag=True, help="Random initialisation even when ImageNet weights are found.")
@click.option("--pose-model", type=click.Path(path_type=Path), help="Pose run used to write missing pose sidecars first.")
@click.option("--val-data", multiple=True, type=click.Path(path_type=Path), help="Validation dataset dirs (default: --data).")
@click.option("--val-every", type=int, help="Validate every N epochs (0 = never).")
@click.option("--max-steps", type=int, help="Cap on batches per epoch (smoke runs).")
@click.option("--workers", type=int)
@click.option("--device", help="auto, cpu, cuda, cuda:N.")
@click.option("--seed", type=int)
@click.option("--no-resume", is_flag=True, help="Refuse to continue an existing run instead of resuming it.")
def train_reid_command(data, more_data, out, config_file, overrides, backbone, inputs, keypoints, multitask, loss, bnneck, image_size,
                       epochs, pk, lr, weights_path, no_pretrained, pose_model, val_data, val_every, max_steps,
                       workers, device, seed, no_resume):
    """Train the multi-task ReID network (DenseNet121; R / RS / MT / K / H / S switches). Runs under torchrun."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from train.reid.config import ReidConfig
    from pipelines.reid import train_reid

    if not config_file and (out / "checkpoints" / "last.pt").exists() and (out / "config.yaml").exists() \
            and not no_resume:
        config = ReidConfig.load(out / "config.yaml", overrides)  # resuming: the run's own settings
    else:
        config = ReidConfig.load(config_file, overrides)
    overrides = {
        "backbone": backbone, "inputs": inputs, "keypoints": keypoints, "multitask": multitask, "loss": loss,
        "bnneck": bnneck,
        "image_size": (image_size, image_size) if image_size else None, "epochs": epochs, "p": pk[0] if pk else None, "k": pk[1] if pk else None, "lr": lr,
        "weights_path": str(weights_path) if weights_path else None, "pose_model": str(pose_model) if pose_model else None,
        "val_every": val_every, "max_steps_per_epoch": max_steps, "workers": workers, "device": device, "seed": seed,
        "pretrained": False if no_pretrained else None,
    }
    config = config.replace(**{key: value for key, value in overrides.items() if value is not None})
    dirs = datasets(data, more_data) or [Path(d) for d in config.data_dirs]
    summary = train_reid(config, dirs, out, val_dirs=list(val_data) or None, resume=not no_resume)
    best = summary["best_mAP"]
    if summary["main_process"]:
        click.echo(f"done: {summary['name']}, {len(summary['history'])} epochs"
                   + (f", best validation mAP {best:.4f}" if best is not None else "") + f"; run: {out}")


@main.command("extract-reid")
@click.option("--model", "model_run", type=click.Path(path_type=Path), required=True, help="ReID run directory or checkpoint file.")
@click.option("--data", "data", multiple=True, type=click.Path(path_type=Path), required=True, help="Dataset directory (repeatable).")
@legacy_datasets
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Feature file to write (.npz).")
@click.option("--splits", nargs=2, help="Query and gallery split names (default: query gallery, or val).")
@click.option("--checkpoint", "which", type=click.Choice(["best", "last", "initial"]), default="best", show_default=True,
              help="'initial': the network before training (the untrained baseline).")
@click.option("--batch-size", type=int)
@click.option("--workers", default=2, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--pose-model", type=click.Path(path_type=Path), help="Pose run used to write missing pose sidecars first.")
def extract_reid_command(model_run, data, more_data, out, splits, which, batch_size, workers, device, pose_model):
    """ReID features and colour/type predictions for every query and gallery image (input of `evaluate-reid`)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from pipelines.reid import extract_features

    features = extract_features(model_run, datasets(data, more_data), splits=splits or None, batch_size=batch_size,
                                device=device, workers=workers, which=which,
                                pose_model=str(pose_model) if pose_model else None)
    features.save(out)
    click.echo(f"{len(features)} images ({int((features.split == 'query').sum())} queries): {out}")


@main.command("search")
@click.option("--model", "model_run", type=click.Path(path_type=Path), required=True, help="ReID run directory or checkpoint file.")
@click.option("--query", "queries", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Query image, folder of images or dataset directory (repeatable).")
@click.option("--gallery", type=click.Path(path_type=Path), required=True, help="Gallery dataset directory or folder of images.")
@click.option("--gallery-split", "gallery_splits", multiple=True, help="Only these splits of a gallery dataset (repeatable).")
@click.option("--top", default=10, show_default=True, help="Results per query.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for results.json, results.csv, pictures/.")
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default="euclidean", show_default=True)
@click.option("--checkpoint", "which", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--pose-model", type=click.Path(path_type=Path), help="Pose run for missing pose sidecars (default: the run's).")
@click.option("--no-pictures", is_flag=True, help="Results only, no picture per query.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable images (counted) instead of stopping at the first.")
@click.option("--veri-names", is_flag=True, help="Image files and folders: identity and camera from VeRi-style names.")
@click.option("--batch-size", type=int)
@click.option("--workers", default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
def search_command(model_run, queries, gallery, gallery_splits, top, out, metric, which, pose_model, no_pictures,
                   skip_bad, veri_names, batch_size, workers, device):
    """Rank a gallery for your own query images (features cached beside the gallery; docs/OWN_DATA.md)."""
    # imported when the command runs: start-up and --help load no torch or bpy
    from pipelines.search import search

    report = search(model_run, queries, gallery, out, top=top, metric=metric, which=which,
                    pose_model=str(pose_model) if pose_model else None, gallery_splits=gallery_splits or None,
                    device=device, workers=workers, batch_size=batch_size, pictures=not no_pictures,
                    skip_bad=skip_bad, veri_names=veri_names)
    click.echo(report.format())


# --- evaluation --------------------------------------------------------------------------------------------


@main.command("evaluate-reid")
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--features", type=click.Path(path_type=Path), help="Precomputed features (.npz FeatureSet, docs/EVALUATION.md).")
@click.option("--model", "model_run", type=click.Path(path_type=Path), help="Trained ReID run: extract features with it.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), help="Dataset dir with query/gallery splits (images for pictures).")
@click.option("--compare", is_flag=True, help="Put RUNS (eval dirs, metrics.json or .npz files) in one table and CMC plot.")
@click.option("--names", help="Comma-separated row names for --compare.")
@click.option("--out", type=click.Path(path_type=Path), help="Output dir [--features: <stem>_eval beside it; --model: RUN/eval/<data>].")
@click.option("--metric", type=click.Choice(["euclidean", "cosine"]), default="euclidean", show_default=True)
@click.option("--rerank/--no-rerank", default=False, show_default=True, help="k-reciprocal re-ranking.")
@click.option("--k1", default=20, show_default=True)
@click.option("--k2", default=6, show_default=True)
@click.option("--lambda", "lambda_value", default=0.3, show_default=True)
@click.option("--max-rank", default=50, show_default=True, help="Length of the CMC curve.")
@click.option("--rank-k", default=100, show_default=True, help="k of rank-k mAP.")
@click.option("--rank-k-denominator", type=click.Choice(["all", "min"]), default="all", show_default=True,
              help="rank-k AP divides by all true matches, or by min(true matches, k).")
@click.option("--ranked-queries", default=8, show_default=True, help="Rows of the ranked-gallery picture (0: none).")
@click.option("--ranked-top", default=10, show_default=True, help="Matches shown per query.")
@click.option("--name", help="Run name in tables and plots.")
@click.option("--allow-partial", is_flag=True,
              help="Score features that cover only part of the dataset's query/gallery (what is left out is reported).")
def evaluate_reid_command(runs, features, model_run, data_dir, compare, names, out, metric, rerank, k1, k2, lambda_value, max_rank,
             rank_k, rank_k_denominator, ranked_queries, ranked_top, name, allow_partial):
    """ReID (mAP, CMC, rank-k mAP, mINP) and attribute accuracy, with tables, CMC plot and ranked-gallery picture.

    \b
    cli.py evaluate-reid --features feats.npz [--data DIR]
    cli.py evaluate-reid --model runs/reid/RUN --data DIR
    cli.py evaluate-reid --compare RUN1 RUN2 ... [--names a,b] [--out DIR]
    """
    # imported when the command runs: start-up and --help load no torch or bpy
    from eval.evaluate import EvalOptions, compare_runs, evaluate_feature_set
    from eval.features import FeatureSet
    from eval.reranking import RerankConfig
    from pipelines.reid import evaluate_model

    options = EvalOptions(
        metric=metric, rerank=RerankConfig(k1, k2, lambda_value) if rerank else None, max_rank=max_rank,
        rank_k=rank_k, rank_k_denominator=rank_k_denominator, ranked_queries=ranked_queries, ranked_top=ranked_top,
        name=name,
    )
    if compare:
        if features or model_run or not runs:
            raise click.UsageError("--compare takes runs as arguments, and no --features / --model")
        out = out or Path("runs/eval/compare")
        table = compare_runs(runs, out, names.split(",") if names else None, options)
    else:
        if runs:
            raise click.UsageError(f"unexpected arguments {list(runs)}: runs are only taken with --compare")
        if bool(features) == bool(model_run):
            raise click.UsageError("give exactly one of --features FILE or --model RUN (with --data DIR)")
        if features:
            out = out or features.with_name(f"{features.stem}_eval")
            options.name = name or features.stem
            metrics = evaluate_feature_set(FeatureSet.load(features), out, options, data_dir=data_dir, source=features,
                                           allow_partial=allow_partial)
        else:
            if not data_dir:
                raise click.UsageError("--model needs --data DIR (a dataset with query and gallery splits)")
            out = out or model_run / "eval" / data_dir.name
            metrics = evaluate_model(model_run, data_dir, out, options)
        table = (out / "table.md").read_text()
        for note in metrics.get("notes", []):
            click.echo(f"note: {note}", err=True)
    click.echo(table)
    click.echo(f"outputs: {out}")


if __name__ == "__main__":
    main()
