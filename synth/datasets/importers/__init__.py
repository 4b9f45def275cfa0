"""Importers of real datasets into the HDF5 contract (docs/IMPORT.md): VeRi-776, CityFlow-ReID, PAMTRI CSVs."""
from synth.datasets.importers.cityflow import import_cityflow
from synth.datasets.importers.common import ImportReport
from synth.datasets.importers.pamtri_csv import import_pamtri_csv, read_pose_csv
from synth.datasets.importers.veri import import_veri

__all__ = ["ImportReport", "import_cityflow", "import_pamtri_csv", "import_veri", "read_pose_csv"]
