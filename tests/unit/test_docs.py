"""The documentation generated from the code cannot drift from it, and
the release notes are ones reno can read.

``etc/glance-import-guard.conf.sample`` (``make sample-config``) must be
what oslo-config-generator writes now, and the Sphinx documentation
(``make docs``) must build without a warning and describe every option
that ``opts.list_opts()`` (the ``oslo.config.opts`` entry point) returns.
Both read the guard installed in the virtualenv, so they first check that
the installed option modules are this source tree's.

The release notes (``releasenotes/notes/*.yaml``, ``reno new``) must pass
``reno lint``, hold only reStructuredText strings, and all appear in
``reno report`` (``make releasenotes``) once committed.
"""

import difflib
import filecmp
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docutils.core
import docutils.utils
import yaml

import glance_import_guard
from glance_import_guard import opts

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin, not resolved
GENERATOR_CONFIG = ROOT / "etc/oslo-config-generator/glance-import-guard.conf"
SAMPLE = ROOT / "etc/glance-import-guard.conf.sample"
# The guard's Python modules that the oslo.config.opts entry point imports,
# printed by a fresh interpreter, one path a line.
OPTION_MODULES = """
import sys
from glance_import_guard import opts
opts.list_opts()
for name, module in sorted(sys.modules.items()):
    path = getattr(module, "__file__", None) or ""
    if name.startswith("glance_import_guard") and path.endswith(".py"):
        print(path)
"""
# An option in the sample: commented out at its default, which may be empty.
SAMPLE_OPTION = re.compile(r"^#(\w+) =( |$)")
NOTES = sorted((ROOT / "releasenotes/notes").glob("*.yaml"))


def tool(name):
    path = BIN / name
    assert path.exists(), "%s is missing: run make venv" % path
    return str(path)


def run(*args, cwd=ROOT):
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd,
                          timeout=60, check=False)


def every_option():
    return sorted("%s.%s" % (group, opt.name)
                  for group, group_opts in opts.list_opts()
                  for opt in group_opts)


def test_the_installed_option_modules_are_this_source_trees():
    installed = Path(glance_import_guard.__file__).parent
    source = ROOT / "python/glance_import_guard"
    result = run(sys.executable, "-c", OPTION_MODULES)
    assert result.returncode == 0, result.stderr
    modules = [Path(line).relative_to(installed)
               for line in result.stdout.split()]
    assert Path("opts.py") in modules, modules
    stale = [str(name) for name in modules
             if not (source / name).exists()
             or not filecmp.cmp(installed / name, source / name,
                                shallow=False)]
    assert not stale, (
        "installed modules that are not python/glance_import_guard's: %s; "
        "run make wheel, then make sample-config" % ", ".join(stale))


def test_the_sample_config_is_what_the_generator_writes_now(tmp_path):
    generated = tmp_path / "glance-import-guard.conf.sample"
    result = run(tool("oslo-config-generator"),
                 "--config-file", str(GENERATOR_CONFIG),
                 "--output-file", str(generated))
    assert result.returncode == 0, result.stderr
    committed = SAMPLE.read_text()
    now = generated.read_text()
    diff = "".join(difflib.unified_diff(
        committed.splitlines(keepends=True), now.splitlines(keepends=True),
        "etc/glance-import-guard.conf.sample", "generated now"))
    assert committed == now, "run make sample-config:\n" + diff


def test_the_sample_config_sets_every_option_in_its_group():
    sections = {}
    section = None
    for line in SAMPLE.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif SAMPLE_OPTION.match(line):
            name = SAMPLE_OPTION.match(line).group(1)
            sections.setdefault(section, []).append(name)
    in_sample = sorted("%s.%s" % (group, name)
                       for group, names in sections.items()
                       for name in names)
    assert in_sample == every_option()


def test_the_docs_build_without_warnings_and_name_every_option(tmp_path):
    html = tmp_path / "html"
    result = run(tool("sphinx-build"), "-W", "--keep-going", "-q", "-E",
                 "-b", "html", "-d", str(tmp_path / "doctrees"),
                 str(ROOT / "doc/source"), str(html))
    assert result.returncode == 0, result.stderr
    page = (html / "configuration.html").read_text()
    # oslo.config's Sphinx extension anchors each option as group.name.
    missing = [name for name in every_option()
               if 'id="%s"' % name not in page]
    assert not missing, missing
    # The sample is included whole: its last option is on the page.
    last = [line for line in SAMPLE.read_text().splitlines()
            if SAMPLE_OPTION.match(line)][-1]
    assert last in page.replace("&lt;", "<").replace("&gt;", ">")


def assert_valid_rst(text, where):
    """Fails on any docutils warning or error, as ``sphinx-build -W``."""
    try:
        docutils.core.publish_doctree(text, settings_overrides={
            "halt_level": docutils.utils.Reporter.WARNING_LEVEL,
            "report_level": docutils.utils.Reporter.WARNING_LEVEL,
            "warning_stream": False})
    except docutils.utils.SystemMessage as error:
        raise AssertionError("%s: %s" % (where, error)) from None


def test_reno_lint_passes():
    assert NOTES, "no release notes in releasenotes/notes"
    result = run(tool("reno"), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_release_note_is_a_string_of_valid_rst():
    for note in NOTES:
        content = yaml.safe_load(note.read_text())
        assert isinstance(content, dict) and content, note.name
        for section, value in content.items():
            items = [value] if section == "prelude" else value
            assert isinstance(items, list) and items, (note.name, section)
            for item in items:
                assert isinstance(item, str), (note.name, section, item)
                assert_valid_rst(item, "%s, %s" % (note.name, section))


def test_reno_report_lists_every_note_once_committed(tmp_path):
    # reno reports the notes git knows (committed or staged), so this
    # commits a copy of them in a repository of its own.
    shutil.copytree(ROOT / "releasenotes", tmp_path / "releasenotes")
    git = ("git", "-c", "user.name=test", "-c", "user.email=test@example.com",
           "-c", "commit.gpgsign=false")
    for args in (("init", "-q"), ("add", "releasenotes"),
                 ("commit", "-q", "-m", "release notes")):
        result = run(*git, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    result = run(tool("reno"), "-q", "report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = result.stdout
    missing = [note.name for note in NOTES
               if "releasenotes/notes/%s @ " % note.name not in report]
    assert not missing, missing
    assert_valid_rst(report, "reno report")
