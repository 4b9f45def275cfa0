"""The one data contract: a directory of HDF5 shards plus `dataset.yaml` (docs/FORMAT.md). Imports no torch:
the trainers' torch Dataset over shards is `train.data.ShardDataset`."""
from synth.datasets.manifest import read_manifest, update_manifest
from synth.datasets.reader import ShardReader
from synth.datasets.schema import SCHEMA_VERSION, DatasetError
from synth.datasets.writer import DatasetWriter, Sample, ShardWriter, decode_image, encode_image, write_samples

__all__ = [
    "SCHEMA_VERSION",
    "DatasetError",
    "DatasetWriter",
    "Sample",
    "ShardReader",
    "ShardWriter",
    "decode_image",
    "encode_image",
    "read_manifest",
    "update_manifest",
    "write_samples",
]


def __getattr__(name: str):
    if name == "ShardDataset":  # the reader's name before the torch Dataset moved to the trainers
        import warnings

        warnings.warn("synth.datasets.ShardDataset is now ShardReader (torch-free); the torch Dataset is "
                      "train.data.ShardDataset", DeprecationWarning, stacklevel=2)
        return ShardReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
