"""How to store images in shards: encoded bytes (JPEG, PNG) or fixed-size arrays with chunked compression.

For each option it writes the same 256x256 images and prints write time, bytes per image, and random-access
read throughput (decoded images/s) through a torch DataLoader with 1 and 2 workers. The contract's reader is
used for the encoded options; the array options get an equivalent minimal reader (lazy per-worker handle).

    python bench/shard_io.py [--n 1000] [--out bench/results/shard_io.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: bench/, tests/ not installed

from synth.datasets import write_samples  # noqa: E402
from train.data import ShardDataset  # noqa: E402
from synth.datasets.reader import LABEL_FIELDS  # noqa: E402
from tests.helpers.toy import draw_toy_vehicle  # noqa: E402
from synth.datasets.writer import Sample  # noqa: E402


def make_images(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [draw_toy_vehicle(rng, (1.0, 1.0, 1.0), int(rng.integers(1, 11)), size)[0] for _ in range(n)]


class ArrayShard(Dataset):
    """Images stored as one (N, H, W, 3) uint8 dataset, one image per chunk."""

    def __init__(self, path: Path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.n = len(f["image"])
        self._file = None
        self._pid = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        labels = {name: self._file[name][i] for name in LABEL_FIELDS}
        return {"image": self._file["image"][i], **labels}

    def __getstate__(self):
        return {**self.__dict__, "_file": None, "_pid": None}


def write_array_shard(path: Path, images, compression, opts) -> None:
    n, (h, w, _) = len(images), images[0].shape
    with h5py.File(path, "w") as f:
        dset = f.create_dataset("image", (n, h, w, 3), np.uint8, chunks=(1, h, w, 3),
                                compression=compression, compression_opts=opts, shuffle=compression is not None)
        for i, image in enumerate(images):
            dset[i] = image
        for name in LABEL_FIELDS:
            f.create_dataset(name, data=np.zeros(n, np.int64))


def read_throughput(dataset: Dataset, workers: int, count: int, seed: int = 0) -> float:
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True, num_samples=count,
                                             generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(dataset, batch_size=32, sampler=sampler, num_workers=workers,
                        persistent_workers=False, collate_fn=lambda batch: len(batch))
    iterator = iter(loader)
    seen = next(iterator)  # the first batch pays for worker start-up; leave it out of the figure
    start = time.perf_counter()
    for batch in iterator:
        seen += batch
    return (count - 32) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="images written per option")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--reads", type=int, default=3000, help="random reads per throughput figure")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "shard_io.json")
    args = parser.parse_args()

    images = make_images(args.n, args.size)
    options = {
        "jpeg95 (encoded bytes)": ("encoded", "jpeg"),
        "png (encoded bytes)": ("encoded", "png"),
        "array + gzip-4": ("array", ("gzip", 4)),
        "array + lzf": ("array", ("lzf", None)),
        "array, uncompressed": ("array", (None, None)),
    }
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (kind, how) in options.items():
            root = Path(tmp) / f"option{len(results)}"
            start = time.perf_counter()
            if kind == "encoded":
                samples = (Sample(image=im, image_name=f"{i}.x", vehicle_id=i) for i, im in enumerate(images))
                write_samples(root, "train", "bench", samples, shard_size=args.n, image_format=how)
                path = root / "train-00000.h5"
                dataset: Dataset = ShardDataset(root, fields=("image",) + LABEL_FIELDS)
            else:
                root.mkdir(parents=True)
                path = root / "train-00000.h5"
                write_array_shard(path, images, *how)
                dataset = ArrayShard(path)
            write_s = time.perf_counter() - start
            row = {
                "option": name,
                "write_ms_per_image": 1000 * write_s / args.n,
                "bytes_per_image": os.path.getsize(path) / args.n,
                "read_images_per_s_1_worker": read_throughput(dataset, 1, args.reads),
                "read_images_per_s_2_workers": read_throughput(dataset, 2, args.reads),
            }
            results.append(row)
            print(f"{name:<24} write {row['write_ms_per_image']:6.2f} ms/img  {row['bytes_per_image'] / 1024:7.1f} KiB/img  "
                  f"read {row['read_images_per_s_1_worker']:7.0f} img/s (1 worker) "
                  f"{row['read_images_per_s_2_workers']:7.0f} img/s (2 workers)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"n": args.n, "size": args.size, "reads": args.reads, "cpu_count": os.cpu_count(), "results": results}
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
