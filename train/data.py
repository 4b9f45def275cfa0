"""The trainers' torch `Dataset` over dataset directories: the data layer's reader (synth.datasets, which imports
no torch so that render workers stay light) as a `torch.utils.data.Dataset`."""
from __future__ import annotations

from torch.utils.data import Dataset

from synth.datasets.reader import LABEL_FIELDS, ShardReader

__all__ = ["LABEL_FIELDS", "ShardDataset"]


class ShardDataset(ShardReader, Dataset):
    """`synth.datasets.ShardReader` (every argument and attribute) as a torch map-style Dataset."""
