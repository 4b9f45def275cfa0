"""The demo pipeline behind `make demo` / `cli.py demo`: every stage on small built-in defaults.

Stages run in order and each writes under the output directory; a stage whose outputs are complete is
skipped on a re-run, so a killed demo resumes where it stopped. The report (`report.md`) quotes only figures
computed by this run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from synth.config import Config


@dataclass
class ToyDataConfig(Config):
    num_models: int = 6
    colors_per_model: int = 4
    images_per_identity: int = 12
    size: int = 128
    seed: int = 0
    held_out_fraction: float = 0.5  # identities kept out of training, for query/gallery


@dataclass
class DemoConfig(Config):
    data: ToyDataConfig = field(default_factory=ToyDataConfig)
    preview_count: int = 24


def _log(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def build_dataset(config: DemoConfig, out: Path) -> Path:
    from synth.datasets.manifest import MANIFEST_NAME
    from synth.toy import make_toy_dataset

    root = out / "data"
    if (root / MANIFEST_NAME).exists():
        _log(f"dataset exists: {root}")
        return root
    c = config.data
    staging = out / "data.partial"
    if staging.exists():
        import shutil

        shutil.rmtree(staging)
    make_toy_dataset(staging, c.num_models, c.colors_per_model, c.images_per_identity, c.size, c.seed,
                     splits={"train": 1 - c.held_out_fraction, "query_gallery": c.held_out_fraction})
    staging.rename(root)
    return root


def run_demo(config: DemoConfig, out: str | Path) -> Path:
    from synth.datasets.inspect import draw_preview, format_summary
    from synth.datasets.validate import validate_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    _log("stage 1/2: dataset")
    data = build_dataset(config, out)
    _log("stage 2/2: validate and preview")
    report = validate_dataset(data, decode="all")
    report.raise_if_errors()
    summary = format_summary(report)
    print(summary)
    preview = draw_preview(data, out / "dataset_preview.png", count=config.preview_count)
    lines = [
        "# Demo report",
        "",
        f"Dataset: `{data}` ({sum(s.num_samples for s in report.splits.values())} images, "
        f"{len(set().union(*(s.identities for s in report.splits.values())))} identities).",
        "",
        "| split | images | identities | cameras |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {s.num_samples} | {len(s.identities)} | {len(s.cameras)} |" for name, s in sorted(report.splits.items())],
        "",
        f"![dataset preview]({preview.name})",
        "",
        "```",
        summary,
        "```",
    ]
    report_path = out / "report.md"
    report_path.write_text("\n".join(lines) + "\n")
    _log(f"report: {report_path}")
    return report_path
