"""``glance-import-guard doctor``: which doors of a Glance deployment let
an unsigned image become active, for callers who are not exempt.

It reads what glance-api reads and the way it reads it, and prints one row
per door. Its modules import one way, each only those above it:

- ``paste``: the paste file glance-api loads and the pipelines it serves;
- ``deployment``: glance-api's options, nova.conf's and the policy, read
  once into a ``Deployment`` (with the paste file's pipelines);
- ``rows``: a ``Row`` (closed, open or warning) per door of glance-api;
  ``nova``: the rows for nova.conf; ``permissions``: who can change the
  certificate directory and the staging key;
- ``report``: every row for a deployment (``check``), printed (``run``).

``glance-import-guard doctor`` (``cli.cmd_doctor``) calls ``run``.
"""

from glance_import_guard.doctor.deployment import ConfigError, Deployment
from glance_import_guard.doctor.report import check, render_text, run
from glance_import_guard.doctor.rows import CLOSED, OPEN, WARNING, Row

__all__ = [
    "CLOSED",
    "OPEN",
    "WARNING",
    "ConfigError",
    "Deployment",
    "Row",
    "check",
    "render_text",
    "run",
]
