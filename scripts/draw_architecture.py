"""Draw docs/images/architecture.png (docs/ARCHITECTURE.md): the layers and the data's path. Run: .venv/bin/python scripts/draw_architecture.py"""
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

fig, ax = plt.subplots(figsize=(12, 7.2), dpi=110)
ax.set_xlim(0, 12); ax.set_ylim(0, 7.2); ax.axis("off")

def box(x, y, w, h, title, lines, colour):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.12", fc=colour, ec="#333", lw=1.2))
    ax.text(x + w / 2, y + h - 0.22, title, ha="center", va="top", fontsize=11, weight="bold")
    ax.text(x + w / 2, y + h - 0.55, "\n".join(lines), ha="center", va="top", fontsize=8.2, linespacing=1.35)

def arrow(x0, y0, x1, y1, text="", colour="#1f5fbf", style="-|>", dx=0.0, dy=0.0, ls="-"):
    ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle=style, color=colour, lw=1.8, linestyle=ls))
    if text:
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, text, fontsize=8, color=colour, ha="center", va="center",
                bbox=dict(fc="white", ec="none", pad=0.5))

ax.text(6, 7.0, "Layers (a module imports only from its own layer and those below) and the data's path",
        ha="center", fontsize=12, weight="bold")
box(0.3, 5.75, 11.4, 0.95, "cli.py  (pamtri)", ["one command per library function; logging, errors, config files"], "#e8e8e8")
box(0.3, 4.35, 11.4, 1.1, "pipelines/", ["demo  |  reid: train_reid, extract_features, evaluate_model  |  pose_accuracy  |  pose_sidecars  |  search",
                                         "compose rendering, training and evaluation; the only place that calls all three"], "#f6e3c6")
box(0.3, 2.35, 3.6, 1.7, "synth/  (render)", ["scene sampling, identities, camera", "Blender backend (synth/blender, bpy)",
                                                "vehicle models (synth/vehicles)"], "#d9ecd0")
box(4.2, 2.35, 3.6, 1.7, "train/", ["pose: HRNet, predict-pose", "reid: DenseNet multi-task, extract",
                                     "train.data.ShardDataset (torch)", "uses eval's metrics for validation"], "#d4e2f4")
box(8.1, 2.35, 3.6, 1.7, "eval/", ["arrays in, numbers out", "ReID mAP/CMC, re-ranking, attributes,", "pose PCK, reports and plots",
                                    "never imports train or pipelines"], "#ead7ef")
box(0.3, 0.25, 11.4, 1.75, "data contract: synth.datasets  (+ synth.vocabulary, synth.config)   -   no torch, no bpy",
    ["<split>-NNNNN.h5 shards + dataset.yaml manifest (writer, manifest, ShardReader, column reads, validate, inspect)",
     "<shard>.pose.h5 pose sidecars: synth/datasets/sidecar.py (one writer, reader, completeness check)",
     "importers (VeRi, CityFlow, PAMTRI CSV, image folders) and export; docs/FORMAT.md"], "#fff4b8")
# import direction (grey, dashed): who may import whom
for x in (2.1, 6.0, 9.9):
    arrow(x, 2.35, x, 2.0, colour="#777", ls="--")
arrow(7.8, 3.2, 8.1, 3.2, colour="#777", ls="--")

# data path (blue)
arrow(1.2, 2.35, 1.2, 2.0, "", colour="#1f5fbf")
ax.text(1.25, 2.15, " 1 render writes shards", fontsize=8, color="#1f5fbf", ha="left", va="center",
        bbox=dict(fc="white", ec="none", pad=0.3))
ax.text(4.3, 2.15, " 2 train reads shards; predict-pose writes sidecars", fontsize=8, color="#1f5fbf", ha="left",
        va="center", bbox=dict(fc="white", ec="none", pad=0.3))
ax.text(8.2, 2.15, " 4 labels / images for coverage + pictures", fontsize=8, color="#1f5fbf", ha="left",
        va="center", bbox=dict(fc="white", ec="none", pad=0.3))
arrow(7.8, 2.75, 8.1, 2.75, colour="#1f5fbf")
ax.text(6.0, 1.55 - 1.45, "", fontsize=1)
ax.text(11.7, 0.32, "blue: the data's path (3: train -> eval, features .npz)   grey dashed: import direction",
        fontsize=8, color="#444", ha="right", va="bottom")
ax.text(6.0, 5.55, "output directory, seed and configs travel down from cli through pipelines; results come back up as return values",
        ha="center", fontsize=8, style="italic")
fig.savefig(Path(__file__).resolve().parents[1] / "docs" / "images" / "architecture.png", bbox_inches="tight")
