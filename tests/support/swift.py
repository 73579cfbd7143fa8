"""A real one-node Swift on 127.0.0.1, for Glance's swift store.

``Swift(folder, keystone_url, ...)`` is a context manager. It writes into
``folder`` a swift.conf (hash path suffix, one storage policy), the
account, container and object rings (``swift-ring-builder`` create, add,
rebalance: one device each, one replica) and the servers' configuration,
then starts memcached (Debian's) and the account, container, object and
proxy servers of the ``swift`` package in .venv (requirements-test.txt),
each on a free port, each in a process group of its own, logging to
``folder/<name>.log`` (``-v``: to stdout, there is no syslog here).
``stop()`` ends them by their process groups. Nothing is read from or
written to /etc/swift: every server's ``swift_dir`` is the folder
(swift.common.utils.set_swift_dir). The device is a folder on the same
filesystem (``mount_check = false``); it needs extended attributes, which
ext4 under /tmp has.

The proxy authenticates as Keystone deployments do (devstack's
lib/swift): keystonemiddleware's ``authtoken`` validates tokens against
``keystone_url`` with a service user (``service_user``, the ``service``
role: Keystone's policy lets it validate tokens), and Swift's
``keystoneauth`` lets users with one of ``operator_roles`` own the account
``AUTH_<project id>`` of their project. ``keystone_setup(stack)`` makes
those users through Keystone's API in the stack of
tests/support/openstack.py.

Needs memcached (tests/support/install-swift.sh, ``make swift-deps``).
"""

import contextlib
import json
import os
import pathlib
import shutil
import socket
import subprocess
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request

from support import harness

_RINGS = """
import json, sys
from swift.common.ring import RingBuilder
folder, ports, device = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
for name, port in ports.items():
    builder = RingBuilder(6, 1, 1)  # 2^6 partitions, 1 replica
    builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": port, "device": device, "weight": 100})
    builder.rebalance()
    builder.save("%s/%s.builder" % (folder, name))
    builder.get_ring().save("%s/%s.ring.gz" % (folder, name))
"""

BIN = harness.BIN
DEVICE = "d1"
# The Swift users keystone_setup makes (passwords are PASSWORD % user):
# the proxy's keystonemiddleware user, and the user Glance stores images
# as, an operator (keystoneauth's operator_roles) of its own project.
SERVICE_USER = "swift"
STORE_USER = "glance-swift"
STORE_PROJECT = "glance-images"
OPERATOR_ROLES = ("admin", "member")
PASSWORD = "secret-%s"
SERVERS = ("account", "container", "object")


class SwiftMissing(RuntimeError):
    """Swift or memcached is not installed."""


def _free_port():
    return harness.free_port()


class _Process:
    """One server process, in its own process group, logging to a file
    (what harness.GlanceServer.running wants for failure reports)."""

    def __init__(self, name, folder, command, port):
        self.name = name
        self.command = [str(c) for c in command]
        self.port = port
        self.log_path = pathlib.Path(folder) / ("%s.log" % name)
        self.process = None

    def start(self):
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.command, cwd=self.log_path.parent, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        finally:
            log.close()
        harness.GlanceServer.running.append(self)
        return self

    def wait_listening(self, deadline):
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("%s exited (%s); log:\n%s" % (
                    self.name, self.process.returncode, self.log_tail()))
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), 1):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not listen on %d; log:\n%s" % (
                    self.name, self.port, self.log_tail()))
            time.sleep(0.05)

    def stop(self, timeout=10):
        if self in harness.GlanceServer.running:
            harness.GlanceServer.running.remove(self)
        harness.stop_group(self.process, timeout)

    def log_tail(self, lines=60):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(
                errors="replace").splitlines()[-lines:])
        return ""


def keystone_setup(stack):
    """Makes, through Keystone's API, the proxy's service user
    (SERVICE_USER, role ``service`` in project ``service``) and Glance's
    store user (STORE_USER, role ``member`` in project STORE_PROJECT), in
    the stack of tests/support/openstack.py. Idempotent. Returns the
    store project's id (Swift account ``AUTH_<id>``)."""
    from keystoneclient.v3 import client as ks_client
    ks = ks_client.Client(session=stack.session("admin"))
    domain = "default"
    roles = {r.name: r for r in ks.roles.list()}
    projects = {p.name: p for p in ks.projects.list()}
    for name in ("service", STORE_PROJECT):
        if name not in projects:
            projects[name] = ks.projects.create(name, domain)
    for user, project, role in ((SERVICE_USER, "service", "service"),
                                (STORE_USER, STORE_PROJECT, "member")):
        found = ks.users.list(name=user, domain=domain)
        account = found[0] if found else ks.users.create(
            user, domain=domain, password=PASSWORD % user,
            default_project=projects[project])
        ks.roles.grant(roles[role], user=account, project=projects[project])
    return projects[STORE_PROJECT].id


class Swift:
    """memcached and Swift's four servers under ``folder`` (see the
    module's docstring).

    :param folder: configuration, rings, the device, logs
    :param keystone_url: Keystone's v3 URL (``.../v3``)
    :param service_user, service_password: the proxy's keystonemiddleware
        user, in project ``service`` of the default domain
    :param operator_roles: keystoneauth's operator_roles
    """

    def __init__(self, folder, keystone_url, service_user=SERVICE_USER,
                 service_password=None, operator_roles=OPERATOR_ROLES):
        self.folder = pathlib.Path(folder).resolve()
        self.keystone_url = keystone_url.rstrip("/")
        self.service_user = service_user
        self.service_password = service_password or PASSWORD % service_user
        self.operator_roles = tuple(operator_roles)
        self.ports = {}
        self.processes = []
        self.timings = {}

    @property
    def url(self):
        """The proxy's URL (no /v1)."""
        return "http://127.0.0.1:%d" % self.ports["proxy"]

    def storage_url(self, project_id):
        """The account of a project: what the catalog's object-store
        endpoint would give (``/v1/AUTH_<project id>``)."""
        return "%s/v1/AUTH_%s" % (self.url, project_id)

    # -- start and stop -------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=60):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        started = time.monotonic()
        memcached = shutil.which("memcached") or "/usr/bin/memcached"
        if not os.path.exists(memcached):
            raise SwiftMissing("memcached is not installed: run `make "
                               "swift-deps` (tests/support/install-swift.sh)")
        if not (BIN / "swift-proxy-server").exists():
            raise SwiftMissing("swift is not installed in %s (pip install "
                               "-r requirements-test.txt)" % BIN.parent)
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "devices" / DEVICE).mkdir(parents=True,
                                                 exist_ok=True)
        for name in ("memcached", "proxy", *SERVERS):
            self.ports[name] = _free_port()
        self._write_config()
        self._build_rings()
        self.timings["rings"] = round(time.monotonic() - started, 2)

        command = [memcached, "-l", "127.0.0.1", "-p", self.ports["memcached"],
                   "-U", "0", "-m", "64"]
        if os.geteuid() == 0:
            command += ["-u", "root"]  # memcached refuses root otherwise
        self.processes.append(_Process("memcached", self.folder, command,
                                       self.ports["memcached"]).start())
        for name in (*SERVERS, "proxy"):
            self.processes.append(_Process(
                "%s-server" % name, self.folder,
                [BIN / ("swift-%s-server" % name),
                 self.folder / ("%s-server.conf" % name), "-v"],
                self.ports[name]).start())
        deadline = time.monotonic() + timeout
        for process in self.processes:
            process.wait_listening(deadline)
        self._wait_healthy(deadline)
        self.timings["total"] = round(time.monotonic() - started, 2)
        return self

    def _wait_healthy(self, deadline):
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/healthcheck",
                                            timeout=2) as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError("the proxy is not healthy; log:\n%s" %
                                   self.processes[-1].log_tail())
            time.sleep(0.1)

    def stop(self):
        for process in reversed(self.processes):
            process.stop()
        self.processes = []

    def log_tails(self, lines=40):
        return "\n\n".join("== %s\n%s" % (p.log_path, p.log_tail(lines))
                           for p in self.processes)

    # -- configuration --------------------------------------------------

    def _write_config(self):
        f = self.folder
        (f / "swift.conf").write_text(textwrap.dedent("""\
            [swift-hash]
            swift_hash_path_suffix = glance-import-guard-tests
            swift_hash_path_prefix = glance-import-guard

            [storage-policy:0]
            name = Policy-0
            default = yes
            """))
        common = {
            "swift_dir": str(f),
            "devices": str(f / "devices"),
            "mount_check": "false",
            "disable_fallocate": "true",
            "bind_ip": "127.0.0.1",
            "workers": "0",
            "log_level": "INFO",
        }
        for name in SERVERS:
            (f / ("%s-server.conf" % name)).write_text(harness._ini({
                "DEFAULT": dict(common, bind_port=str(self.ports[name])),
                "pipeline:main": {"pipeline": "%s-server" % name},
                "app:%s-server" % name: {
                    "use": "egg:swift#%s" % name},
            }))
        authtoken = {
            "paste.filter_factory":
                "keystonemiddleware.auth_token:filter_factory",
            "www_authenticate_uri": self.keystone_url,
            "auth_url": self.keystone_url,
            "auth_type": "password",
            "username": self.service_user,
            "password": self.service_password,
            "user_domain_id": "default",
            "project_name": "service",
            "project_domain_id": "default",
            # keystoneauth decides (its operator roles, then the ACLs)
            "delay_auth_decision": "true",
            "cache": "swift.cache",
            "include_service_catalog": "false",
        }
        (f / "proxy-server.conf").write_text(harness._ini({
            "DEFAULT": {"swift_dir": str(f), "bind_ip": "127.0.0.1",
                        "bind_port": str(self.ports["proxy"]),
                        "workers": "0", "log_level": "INFO"},
            "pipeline:main": {"pipeline": (
                "catch_errors gatekeeper healthcheck proxy-logging cache "
                "listing_formats authtoken keystoneauth copy slo dlo "
                "proxy-logging proxy-server")},
            "app:proxy-server": {"use": "egg:swift#proxy",
                                 # keystone projects' accounts are made on
                                 # first use
                                 "account_autocreate": "true"},
            "filter:catch_errors": {"use": "egg:swift#catch_errors"},
            "filter:gatekeeper": {"use": "egg:swift#gatekeeper"},
            "filter:healthcheck": {"use": "egg:swift#healthcheck"},
            "filter:proxy-logging": {"use": "egg:swift#proxy_logging"},
            "filter:cache": {
                "use": "egg:swift#memcache",
                "memcache_servers": "127.0.0.1:%d" % self.ports["memcached"]},
            "filter:listing_formats": {"use": "egg:swift#listing_formats"},
            "filter:authtoken": authtoken,
            "filter:keystoneauth": {
                "use": "egg:swift#keystoneauth",
                "operator_roles": ",".join(self.operator_roles),
                "reseller_prefix": "AUTH_"},
            "filter:copy": {"use": "egg:swift#copy"},
            "filter:slo": {"use": "egg:swift#slo"},
            "filter:dlo": {"use": "egg:swift#dlo"},
        }))

    def _build_rings(self):
        """What ``swift-ring-builder <name>.builder create 6 1 1``, ``add
        r1z1-127.0.0.1:<port>/d1 100`` and ``rebalance`` do, in one child
        process (the nine commands take 4 s, this well under one). Not in
        this process: importing swift's ring module (swift.common.utils)
        leaves this process's eventlet in a state in which Glance's
        taskflow-driven tests later hang."""
        subprocess.run(
            [str(harness.BIN / "python"), "-c", _RINGS, str(self.folder),
             json.dumps({name: self.ports[name] for name in SERVERS}),
             DEVICE], check=True, capture_output=True, timeout=60)

    def proxy_requests(self, needle):
        """(method, path, status) of each client request the proxy has
        logged (proxy_logging: ``client_ip remote_addr datetime method
        path protocol status ...``) whose path contains ``needle``, oldest
        first. 499: the client went away before the end of the body, and
        Swift kept nothing of it."""
        found = []
        log = self.folder / "proxy-server.log"
        for line in log.read_text(errors="replace").splitlines():
            fields = line.split()
            if len(fields) < 8 or fields[0] != "proxy-server:" or \
                    not fields[6].startswith("HTTP/"):
                continue
            path = urllib.parse.unquote(fields[5])
            if needle in path and fields[1] != "-":  # "-": the proxy's own
                found.append((fields[4], path, int(fields[7])))
        return found

    # -- clients --------------------------------------------------------

    def request(self, method, path, token, data=None, headers=None):
        """A plain HTTP request to the proxy with an X-Auth-Token; ``path``
        starts with /v1. Returns (status, headers, body)."""
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers=dict(headers or {}, **{"X-Auth-Token": token}))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), \
                    response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()
