"""The paste file glance-api loads, and the pipelines it serves.

Found as Glance finds it (``[paste_deploy] config_file``, else
glance-api-paste.ini, named after the last config file, found as
``CONF.find_file`` finds it), read with
configparser, and followed from ``glance-api[-<flavor>]`` as paste.deploy
and Glance's ``pipeline_factory`` would (glance/common/config.py,
``load_paste_app``; glance/api/__init__.py).
"""

import collections
import configparser
import os
import sys

GUARD_FILTER = "glance_import_guard.middleware"
CONTEXT_FACTORIES = (
    "glance.api.middleware.context:ContextMiddleware.factory",
    "glance.api.middleware.context:UnauthenticatedContextMiddleware.factory")
# Apps behind which no image data can arrive: the versions document and the
# health check.
HARMLESS_APPS = ("glance.api.versions:create_resource",
                 "oslo_middleware:Healthcheck.app_factory")
APPS = (("app", "application"), ("composite", "composit"), ("pipeline",),
        ("filter-app",))
FILTERS = (("filter",),)

Filter = collections.namedtuple("Filter", "name factory")
# A way from the served composite to an app: the section (and key) whose
# pipeline it took last, the filters on the way, the app's factory, and
# why it cannot be followed (or None).
Chain = collections.namedtuple("Chain", "label filters app problem")


def paste_file(conf, config_dir):
    """(path or None, how it was found). Glance takes ``[paste_deploy]
    config_file``, else the last config file's name with ``-paste.ini``
    for ``.conf`` (glance-api.conf: glance-api-paste.ini) found by
    ``CONF.find_file``: in the ``--config-dir`` folders, beside the config
    files (the last first), then in oslo.config's standard folders
    (glance/common/config.py, ``_get_deployment_config_file`` and
    ``_get_paste_config_path``). The copy pip installs under sys.prefix is
    only the doctor's last resort, to read the stock pipelines.

    NOTE: Glance resolves a relative ``config_file`` from glance-api's
    working directory, which the doctor cannot know; it reads it from
    ``config_dir``, the folder of glance-api.conf."""
    configured = conf.paste_deploy.config_file
    if configured:
        path = os.path.join(config_dir, configured)  # as-is if absolute
        return (path, "[paste_deploy] config_file") if os.path.isfile(
            path) else (None, "[paste_deploy] config_file %s does not exist"
                        % configured)
    if conf.config_file:
        name = conf.config_file[-1].replace(".conf", "-paste.ini")
    else:
        name = (conf.prog or "glance-api") + "-paste.ini"
    found = conf.find_file(os.path.basename(name))
    if found:
        return found, "found by glance-api"
    for prefix in (sys.prefix, sys.base_prefix):
        shipped = os.path.join(prefix, "etc", "glance", "glance-api-paste.ini")
        if os.path.isfile(shipped):
            return shipped, ("the copy shipped with glance; glance-api "
                             "finds no %s and will not start"
                             % os.path.basename(name))
    return None, "no %s" % os.path.basename(name)


def read_paste(path):
    """The paste file as paste.deploy parses it (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    with open(path, encoding="utf-8") as f:
        parser.read_file(f)
    return parser


def _find(parser, name, groups):
    """(section, None) or (None, why), as paste.deploy's
    ``find_config_section``: the first prefix of each group that names a
    section, and exactly one section over all groups."""
    possible = []
    for group in groups:
        for prefix in group:
            found = [s for s in parser.sections()
                     if s.startswith(prefix + ":")
                     and s[len(prefix) + 1:].strip() == name]
            if found:
                possible += found
                break
    if len(possible) == 1:
        return possible[0], None
    return None, ("no section for %r" % name if not possible else
                  "ambiguous sections %s for %r" % (
                      ", ".join("[%s]" % s for s in possible), name))


def _factory(section):
    for key in ("paste.filter_factory", "paste.app_factory",
                "paste.composite_factory", "use"):
        if key in section:
            return section[key].strip()
    return None


def chains(parser, flavor):
    """Every way from ``glance-api[-<flavor>]`` to an app."""

    def pipeline(names, filters, label, depth):
        for name in names[:-1]:
            section, problem = _find(parser, name, FILTERS)
            if problem:
                yield Chain(label, filters, None, problem.replace(
                    "section for", "[filter:%s] section for" % name))
                return
            filters = filters + [Filter(name, _factory(parser[section]))]
        yield from app(names[-1] if names else "", filters, label, depth + 1)

    def app(name, filters, label, depth):
        section, problem = _find(parser, name, APPS)
        if problem or depth > 20:
            yield Chain(label, filters, None, problem or "a loop")
            return
        items = parser[section]
        kind = section.partition(":")[0]
        if kind == "pipeline":
            yield from pipeline(items.get("pipeline", "").split(), filters,
                                "[%s]" % section, depth)
        elif kind == "filter-app":
            filters = filters + [Filter(name, _factory(items))]
            yield from app(items.get("next", ""), filters, label, depth + 1)
        elif kind.startswith("composit"):
            urls = [k for k in items if k.startswith("/")]
            key = flavor or "default"  # Glance's pipeline_factory
            for url in urls:
                yield from app(items[url].strip(), filters, label, depth + 1)
            if not urls and key in items:
                yield from pipeline(items[key].split(), filters,
                                    "[%s] %s" % (section, key), depth)
            elif not urls:
                yield Chain(label, filters, _factory(items),
                            "[%s] has no pipeline %r" % (section, key))
        else:
            yield Chain(label, filters, _factory(items), None)

    top = "glance-api" + ("-" + flavor if flavor else "")
    problem = _find(parser, top, APPS)[1]
    if problem:
        return [Chain("[paste_deploy] flavor = %s" % (flavor or ""), [], None,
                      "%s (no [composite:%s]): glance-api will not start" % (
                          problem, top))]
    seen, out = set(), []
    for chain in app(top, [], None, 0):
        key = (chain.label, tuple(chain.filters), chain.problem)
        if chain.app in HARMLESS_APPS and not chain.problem or key in seen:
            continue
        seen.add(key)
        out.append(chain)
    return out


def guard_filter_defined(parser):
    return any((_factory(parser[s]) or "").startswith(GUARD_FILTER)
               for s in parser.sections())
