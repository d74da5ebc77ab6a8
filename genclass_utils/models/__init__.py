"""Model definitions, each explained in its chapter: classifiers, gan, vae, vaegan."""

from . import classifiers  # noqa: F401  (gu.models.classifiers works without an explicit import)
