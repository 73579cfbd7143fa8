"""glance-api's configuration on the command line: oslo.config's own
``--config-file`` and ``--config-dir``, and the files glance-api reads when
neither is given.

The command line keeps each ``--config-file PATH`` and ``--config-dir DIR``
in the order given and hands them to oslo.config unchanged (``parse``), so
they mean exactly what they mean to every OpenStack service: each
``--config-file`` is read in turn, later ones winning; each
``--config-dir`` reads its ``*.conf`` files, sorted, where it stands; with
no ``--config-file`` the defaults below are read, and with no
``--config-dir`` oslo.config's default folders (``glance.conf.d`` and
``glance-api.conf.d`` in ``~/.glance/``, ``~/``, ``/etc/glance/``,
``/etc/``).
"""

import argparse
import os

PROJECT, PROG = "glance", "glance-api"
DEFAULT_DIR = "/etc/glance"


def default_config_files(env=None):
    """The files glance-api reads: ``glance-image-import.conf`` (when it
    exists) then ``glance-api.conf``, in ``$OS_GLANCE_CONFIG_DIR`` or
    /etc/glance.

    NOTE: glance-api under a WSGI server (the only way in Glance 33, whose
    glance/cmd/api.py refuses to run standalone) reads its configuration
    as glance/common/wsgi_app.py (``_get_config_files``, ``init_app``)
    does: ``CONF([], project='glance', prog='glance-api',
    default_config_files=...)`` with these files and oslo.config's default
    folders. tests/unit/test_cli.py compares this with Glance's own
    function. Glance 28 (2024.1) lists glance-api-paste.ini first too,
    read as a config file although it holds no option: left out here."""
    env = os.environ if env is None else env
    folder = env.get("OS_GLANCE_CONFIG_DIR", DEFAULT_DIR).strip()
    optional = os.path.join(folder, "glance-image-import.conf")
    return ([optional] if os.path.exists(optional) else []) + [
        os.path.join(folder, "glance-api.conf")]


class _InOrder(argparse.Action):
    """Keeps every --config-file and --config-dir, in order, as oslo.config
    arguments."""

    def __call__(self, parser, namespace, value, option_string=None):
        given = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, given + [option_string, value])


def add_arguments(parser, defaults=True):
    """Adds oslo.config's ``--config-file`` and ``--config-dir`` to an
    argparse parser; the arguments land, in order, in ``oslo_args``."""
    where = ("default: glance-api's, glance-image-import.conf (if any) and "
             "glance-api.conf in $OS_GLANCE_CONFIG_DIR or %s" % DEFAULT_DIR
             if defaults else "default: none, the guard's defaults")
    parser.add_argument(
        "--config-file", action=_InOrder, dest="oslo_args", default=[],
        metavar="PATH",
        help="a config file, as oslo.config reads it: repeat for more, "
             "later files win (%s)" % where)
    parser.add_argument(
        "--config-dir", action=_InOrder, dest="oslo_args", default=[],
        metavar="DIR",
        help="a folder whose *.conf files are read, sorted, after the "
             "--config-files before it, as oslo.config reads it%s" % (
                 " (default: glance-api.conf.d/ in /etc/glance/ and "
                 "oslo.config's other folders)" if defaults else ""))


def parse(conf, oslo_args, defaults=True):
    """Parses ``oslo_args`` (``--config-file``/``--config-dir`` pairs) into
    ``conf`` as glance-api would; with ``defaults``, the files and folders
    glance-api reads when none is given. Raises ``cfg.Error`` (e.g.
    ``ConfigFilesNotFoundError``) when a file cannot be read."""
    conf(list(oslo_args), project=PROJECT, prog=PROG,
         default_config_files=default_config_files() if defaults else [],
         default_config_dirs=None if defaults else [])
    return conf


def old_style_dirs(oslo_args):
    """The ``--config-dir`` folders that hold a glance-api.conf: the doctor
    and the audit once took ``--config-dir`` for the folder of
    glance-api.conf; now, as in oslo.config, every ``*.conf`` in it is
    read."""
    return [value for option, value in zip(oslo_args[::2], oslo_args[1::2])
            if option == "--config-dir" and os.path.isfile(
                os.path.join(value, "glance-api.conf"))]
