"""Sphinx configuration of the guard's documentation (make docs).

The options reference is generated from the code: oslo.config's Sphinx
extension renders what the ``oslo.config.opts`` entry point
(``glance_import_guard.opts:list_opts``) returns, from the guard installed
in the virtualenv (``make wheel`` after changing an option). Warnings are
errors (``sphinx-build -W``), so a help text that is not valid
reStructuredText fails the build.
"""

project = "glance-import-guard"
copyright = "glance-import-guard authors"
extensions = ["oslo_config.sphinxext"]
master_doc = "index"
exclude_patterns = []
html_theme = "alabaster"
# Nothing is fetched while building: no intersphinx, no remote images.
