"""Import throughput and peak memory against dataset size: the importers stream images, so peak RSS should stay
flat as the number of images grows (only labels, a few hundred bytes per image, are held).

For each size N it writes a fake VeRi-776 (N training images of VeRi-like size, JPEG, gb2312 XML, name lists;
a handful of query/gallery images), imports it in a fresh process, and reports images/s and that process's
peak RSS; then it exports the result to the PAMTRI layout and reports that too.

    python bench/import_memory.py [--sizes 1000 4000] [--out bench/results/import_memory.json]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from synth.datasets.importers import import_veri
from synth.datasets.export import export_pamtri
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
report = import_veri({src!r}, {dst!r}, progress=False)
import_s = time.perf_counter() - t
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
export_pamtri({dst!r}, {exp!r}, progress=False)
export_s = time.perf_counter() - t
print(json.dumps({{"samples": sum(r.samples for r in report.splits.values()), "import_s": import_s,
                  "export_s": export_s, "peak_rss_mib": rss_import / 1024, "rss_after_imports_mib": baseline / 1024,
                  "peak_rss_after_export_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def make_veri(root: Path, n: int, seed: int = 0) -> int:
    """A VeRi-776 lookalike with `n` training images; returns the bytes of image data written."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (320, 320, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)  # photo-like, so JPEG sizes are realistic
    total = 0
    splits = {"train": ("image_train", "name_train.txt", "train_label.xml", n),
              "gallery": ("image_test", "name_test.txt", "test_label.xml", 20)}
    for split, (folder, name_list, xml, count) in splits.items():
        (root / folder).mkdir(parents=True)
        names, items = [], []
        for i in range(count):
            vehicle, camera = 1 + i // 40 + (1000 if split == "gallery" else 0), 1 + i % 20
            name = f"{vehicle:04d}_c{camera:03d}_{i:08d}_0.jpg"
            h, w = int(rng.integers(100, 300)), int(rng.integers(100, 300))
            y, x = int(rng.integers(0, 320 - h)), int(rng.integers(0, 320 - w))
            data = cv2.imencode(".jpg", base[y : y + h, x : x + w])[1].tobytes()
            (root / folder / name).write_bytes(data)
            total += len(data)
            names.append(name)
            items.append(f'<Item imageName="{name}" vehicleID="{vehicle:04d}" cameraID="c{camera:03d}" '
                         f'colorID="{1 + i % 10}" typeID="{1 + i % 9}" />')
        (root / name_list).write_text("\n".join(names) + "\n")
        text = '<?xml version="1.0" encoding="gb2312"?>\n<Images><!-- 车辆 -->\n<Items>\n' + "\n".join(items)
        (root / xml).write_bytes((text + "\n</Items>\n</Images>\n").encode("gb2312"))
        if split == "gallery":
            (root / "image_query").mkdir()
            for name in names[:5]:
                (root / "image_query" / name).write_bytes((root / folder / name).read_bytes())
            (root / "name_query.txt").write_text("\n".join(names[:5]) + "\n")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import_memory.json")
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            image_bytes = make_veri(tmp / "VeRi", n)
            code = CHILD.format(root=str(ROOT), src=str(tmp / "VeRi"), dst=str(tmp / "out"), exp=str(tmp / "pamtri"))
            child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            result = json.loads(child.stdout.strip().splitlines()[-1])
            result.update({"train_images": n, "image_mib": image_bytes / 2**20,
                           "import_images_per_s": result["samples"] / result["import_s"],
                           "export_images_per_s": result["samples"] / result["export_s"]})
            results.append(result)
            print(f"N={n:6d}: {result['image_mib']:7.1f} MiB of JPEG; import {result['import_images_per_s']:7.0f} img/s, "
                  f"export {result['export_images_per_s']:7.0f} img/s; peak RSS {result['peak_rss_mib']:6.1f} MiB, "
                  f"{result['peak_rss_mib'] - result['rss_after_imports_mib']:5.1f} MiB above the loaded modules "
                  f"(after export {result['peak_rss_after_export_mib']:6.1f} MiB)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
