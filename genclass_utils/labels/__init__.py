"""The label store: a folder of images, a classifier's predictions and the labels, in SQLite.

``LabelStore`` is the Python API (for notebooks); ``python -m genclass_utils label`` is the
command line over it (``genclass_utils.labels.cli``). The schema and its migrations are in
``genclass_utils.labels.schema``. book/setup.md shows how to label a folder of images.
"""

from __future__ import annotations

from .schema import SCHEMA_VERSION
from .store import SOURCES, LabelStore

__all__ = ["LabelStore", "SCHEMA_VERSION", "SOURCES"]
