"""A real glance-api on 127.0.0.1, for the end-to-end tests and the demo.

``GlanceServer`` writes glance-api.conf, glance-image-import.conf and a
paste file with a Keystone-less ``headers`` flavor into a folder, gives it
a migrated SQLite database (``glance-manage db_sync`` runs once per process;
later servers get a copy), and runs Glance's WSGI app under gunicorn. It
stops the server by its own process group and keeps the server log.

``FileServer`` serves a folder over HTTP on 127.0.0.1 for web-download.

``PostgresServer`` runs a private PostgreSQL cluster on 127.0.0.1, for
tests that run many imports at once: Glance on SQLite fails those with
"database is locked" in its own code (measured: 20 concurrent imports on
SQLite, several failed in Glance's task and image updates).

``client()`` gives an openstacksdk connection that sends the identity
headers Keystone's middleware would have set.

It works with every glance the release matrix installs (tests/matrix/,
glance 28.2.0 to 33.0.0) and the gunicorn each release pins; what differs
is found out from the installed packages, never from version numbers.
"""

import collections
import contextlib
import functools
import http.server
import importlib.util
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
import uuid

BIN = pathlib.Path(sys.executable).parent
PROJECT_ID = "6838eb7b6ded434a882cb344c77fe8df"
USER_ID = "0f8ed3ac4ab54d7f8a3ad31c73a2b6f0"
STORE = "store1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wsgi_app():
    """What gunicorn serves: ``glance.wsgi.api`` (glance 29+), else, in
    glance 28, which has no such module, the factory it wraps (gunicorn
    takes the call syntax; the factory also reads OS_GLANCE_CONFIG_DIR)."""
    try:
        if importlib.util.find_spec("glance.wsgi.api") is not None:
            return "glance.wsgi.api:application"
    except ModuleNotFoundError:  # no glance.wsgi package at all
        pass
    return "glance.common.wsgi_app:init_app()"


def gunicorn_options():
    """Options only some gunicorn versions have. Recent gunicorn opens a
    control socket, one per user, that every server shares: turn it off
    where it exists (older gunicorn refuses the unknown option)."""
    from gunicorn import config
    settings = {s.name for s in config.KNOWN_SETTINGS}
    return (["--no-control-socket"] if "control_socket_disable" in settings
            else [])


def _stock_paste_file():
    for prefix in (sys.prefix, sys.base_prefix, "/usr/local", "/usr", "/"):
        path = pathlib.Path(prefix, "etc", "glance", "glance-api-paste.ini")
        if path.exists():
            return path
    raise RuntimeError("glance-api-paste.ini not found; is glance installed?")


def paste_with_headers_flavor(upload_filter=False):
    """The stock paste file plus a ``headers`` flavor: the keystone
    pipeline without authtoken, so the context comes from X-* headers.
    With ``upload_filter``, the guard's filter after ``context`` in it and
    in the stock ``keystone`` pipelines (``keystone``, ``keystone+caching``,
    ``keystone+cachemanagement``), as the README tells operators."""
    text = _stock_paste_file().read_text()
    keystone = next(line for line in text.splitlines()
                    if line.startswith("keystone = "))
    headers = keystone.replace("keystone = ", "headers = ").replace(
        "authtoken ", "")
    if upload_filter:
        headers = headers.replace(" context ", " context import_guard ")
    text = text.replace(keystone, keystone + "\n" + headers, 1)
    if upload_filter:
        text = re.sub(r"^(keystone\S* = .* authtoken context) ",
                      r"\1 import_guard ", text, flags=re.MULTILINE)
        text += ("\n[filter:import_guard]\npaste.filter_factory = "
                 "glance_import_guard.middleware:filter_factory\n")
    return text + textwrap.dedent("""
        [composite:glance-api-headers]
        paste.composite_factory = glance.api:root_app_factory
        /: api
        /healthcheck: healthcheck
        """)


def _ini(sections):
    out = []
    for section, options in sections.items():
        out.append("[%s]" % section)
        out += ["%s = %s" % kv for kv in options.items()]
        out.append("")
    return "\n".join(out)


def _db_sync(folder, url):
    conf = pathlib.Path(folder) / "glance-manage.conf"
    conf.write_text(_ini({"database": {"connection": url}}))
    subprocess.run([str(BIN / "glance-manage"), "--config-file", str(conf),
                    "db_sync"], check=True, capture_output=True, cwd=folder)


@functools.lru_cache(maxsize=None)
def _synced_database():
    """Runs glance-manage db_sync once per process; returns the file."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="glance-db-template-"))
    db = folder / "glance.sqlite"
    _db_sync(folder, "sqlite:///%s" % db)
    return db


class GlanceServer:
    """One glance-api process and its folder. Servers that are up are in
    ``GlanceServer.running`` (conftest adds their logs to failed tests).

    :param workdir: folder for config, database, stores and the log
    :param plugins: [image_import_opts] image_import_plugins
    :param import_guard: options for [import_guard]
    :param certificate_dir: folder of the certificate_directory key manager
    :param web_download_ports: ports web-download may fetch from (127.0.0.1)
    :param flavor: [paste_deploy] flavor: ``headers`` (no Keystone, the
        identity comes from X-* headers) or a stock one such as ``keystone``
    :param extra_config: {section: {option: value}} merged into
        glance-api.conf last (it overrides what the server writes)
    """

    running = []

    def __init__(self, workdir, plugins=("import_guard",), import_guard=None,
                 certificate_dir=None, web_download_ports=(),
                 hashing_algorithm="sha512", database_url=None,
                 upload_filter=False, show_multiple_locations=False,
                 server="gunicorn", flavor="headers", extra_config=None):
        self.workdir = pathlib.Path(workdir)
        self.plugins = list(plugins)
        self.import_guard = dict(import_guard or {})
        self.certificate_dir = certificate_dir
        self.web_download_ports = list(web_download_ports)
        self.hashing_algorithm = hashing_algorithm
        self.database_url = database_url
        self.upload_filter = upload_filter
        self.server = server
        self.show_multiple_locations = show_multiple_locations
        self.flavor = flavor
        self.extra_config = {section: dict(options) for section, options
                             in (extra_config or {}).items()}
        self.port = None
        self.process = None
        self.log_path = self.workdir / "glance-api.log"
        self.staging_dir = self.workdir / "staging"
        self.store_dir = self.workdir / STORE

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _write_config(self):
        for d in (self.staging_dir, self.store_dir, self.workdir / "tasks"):
            d.mkdir(parents=True, exist_ok=True)
        if self.database_url:
            database_url = self.database_url
            _db_sync(self.workdir, database_url)
        else:
            db = self.workdir / "glance.sqlite"
            shutil.copyfile(_synced_database(), db)
            database_url = "sqlite:///%s" % db
        (self.workdir / "glance-api-paste.ini").write_text(
            paste_with_headers_flavor(self.upload_filter))
        ports = ", ".join(str(p) for p in self.web_download_ports)
        sections = {
            "DEFAULT": {
                "enabled_backends": "%s:file" % STORE,
                "enabled_import_methods": "[glance-direct, web-download]",
                "hashing_algorithm": self.hashing_algorithm,
                "bind_host": "127.0.0.1",
                "worker_self_reference_url": self.url,
                "show_multiple_locations": str(self.show_multiple_locations),
                "default_log_levels": "glance_import_guard=DEBUG,"
                "amqp=WARN,sqlalchemy=WARN,stevedore=WARN,"
                "taskflow=WARN,urllib3=WARN,keystonemiddleware=WARN,"
                "routes=WARN,oslo_policy=WARN",
            },
            "database": {"connection": database_url},
            "paste_deploy": {
                "flavor": self.flavor,
                "config_file": str(self.workdir / "glance-api-paste.ini")},
            "glance_store": {"default_backend": STORE},
            STORE: {"filesystem_store_datadir": str(self.store_dir)},
            "os_glance_staging_store": {
                "filesystem_store_datadir": str(self.staging_dir)},
            "os_glance_tasks_store": {
                "filesystem_store_datadir": str(self.workdir / "tasks")},
            "import_filtering_opts": {
                "allowed_hosts": "[127.0.0.1]",
                "allowed_ports": "[%s]" % ports,
            },
            "taskflow_executor": {"max_workers": "4"},
        }
        if self.certificate_dir:
            sections["key_manager"] = {"backend": "certificate_directory"}
            sections["certificate_directory"] = {
                "path": str(self.certificate_dir)}
        if self.import_guard:
            sections["import_guard"] = {
                k: ",".join(v) if isinstance(v, (list, tuple)) else str(v)
                for k, v in self.import_guard.items()}
        for section, options in self.extra_config.items():
            sections.setdefault(section, {}).update(
                (k, str(v)) for k, v in options.items())
        (self.workdir / "glance-api.conf").write_text(_ini(sections))
        (self.workdir / "glance-image-import.conf").write_text(_ini({
            "image_import_opts": {
                "image_import_plugins": "[%s]" % ", ".join(self.plugins)}}))

    def start(self, timeout=60, port=None):
        """Starts glance-api on ``port`` (default: a free one)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self._write_config()
        env = dict(os.environ, OS_GLANCE_CONFIG_DIR=str(self.workdir))
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self._command(), cwd=self.workdir, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("glance-api exited (%s); log:\n%s" % (
                    self.process.returncode, self.log_tail()))
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/healthcheck",
                                            timeout=2) as r:
                    if r.status == 200:
                        GlanceServer.running.append(self)
                        return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("glance-api did not answer in %ss; log:\n%s" % (
            timeout, self.log_tail()))

    def _command(self):
        if self.server == "gunicorn":
            return [str(BIN / "gunicorn"), "--bind",
                    "127.0.0.1:%d" % self.port, "--workers", "1",
                    "--threads", "8", "--timeout", "300",
                    *gunicorn_options(), wsgi_app()]
        # uWSGI as devstack runs glance-api (lib/glance, write_uwsgi_config):
        # chunked input read by uwsgi.chunked_read(), no keep-alive.
        app = self.workdir / "glance_wsgi.py"
        app.write_text(
            "try:\n    from glance.wsgi.api import application\n"
            "except ImportError:  # glance 28\n"
            "    from glance.common.wsgi_app import init_app\n"
            "    application = init_app()\n")
        return [str(BIN / "uwsgi"), "--http-socket",
                "127.0.0.1:%d" % self.port, "--wsgi-file", str(app),
                "--master", "--processes", "1", "--threads", "8",
                "--enable-threads", "--lazy-apps", "--die-on-term",
                "--need-app", "--buffer-size", "65535",
                "--http-chunked-input", "--http-auto-chunked",
                "--add-header", "Connection: close"]

    def stop(self, timeout=15):
        if self in GlanceServer.running:
            GlanceServer.running.remove(self)
        stop_group(self.process, timeout)

    def log_tail(self, lines=60):
        if not self.log_path.exists():
            return ""
        return "\n".join(
            self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def headers(self, roles=("member", "reader"), project_id=PROJECT_ID,
                service_roles=()):
        headers = {
            "X-Identity-Status": "Confirmed",
            "X-Roles": ",".join(roles),
            "X-User-Id": USER_ID,
            "X-Tenant-Id": project_id,
            "X-Project-Id": project_id,
        }
        if service_roles:
            # What keystonemiddleware sets for a valid service token (this
            # flavor has no authtoken filter to strip or check it).
            headers["X-Service-Roles"] = ",".join(service_roles)
            headers["X-Service-Identity-Status"] = "Confirmed"
        return headers

    def client(self, roles=("member", "reader"), service_roles=()):
        """An openstacksdk connection acting as a project member (with a
        service token carrying ``service_roles``, if any)."""
        import openstack.connection
        from keystoneauth1 import noauth
        from keystoneauth1 import session as ks_session
        session = ks_session.Session(
            auth=noauth.NoAuth(endpoint=self.url),
            additional_headers=self.headers(roles,
                                            service_roles=service_roles))
        return openstack.connection.Connection(
            session=session, image_endpoint_override=self.url,
            image_api_version="2")

    def worker_pid(self):
        """The server's worker process: the master's only child."""
        children = pathlib.Path("/proc/%d/task/%d/children" % (
            self.process.pid, self.process.pid)).read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def staged(self, image_id):
        return (self.staging_dir / str(image_id)).exists()

    def stored(self, image_id):
        return any(p.name.startswith(str(image_id))
                   for p in self.store_dir.iterdir())


def stop_group(process, timeout=15):
    """Stops ``process`` and its process group (it runs in a session of
    its own: pgid == pid): SIGTERM, then SIGKILL after ``timeout``; and
    SIGKILL to whatever of the group is left (a worker)."""
    if process is None or process.poll() is not None:
        return
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def resources(pid):
    """(threads, open file descriptors) of a process. A connection a
    client opened to one of the process's listening ports and still holds
    open (keep-alive) is the client's, not the process's, and is not
    counted; one the client has closed and the process has not (CLOSE_WAIT)
    is counted: that is a server leaking the sockets of abandoned
    requests."""
    return (len(os.listdir("/proc/%d/task" % pid)),
            sum(n for kind, n in fd_kinds(pid).items()
                if kind != "client"))


_ESTABLISHED, _LISTEN = "01", "0A"


def _tcp_sockets(pid):
    """Socket inode -> (local port, remote port, state) of the TCP sockets
    in the process's network namespace (/proc/PID/net/tcp, tcp6)."""
    sockets = {}
    for table in ("tcp", "tcp6"):
        try:
            text = pathlib.Path("/proc/%d/net/%s" % (pid, table)).read_text()
        except OSError:
            continue
        for line in text.splitlines()[1:]:
            fields = line.split()
            sockets[fields[9]] = (int(fields[1].rsplit(":", 1)[1], 16),
                                  int(fields[2].rsplit(":", 1)[1], 16),
                                  fields[3])
    return sockets


def fd_kinds(pid):
    """A process's open file descriptors counted by kind: "file", "pipe",
    "anon_inode:[...]", "listen", "client" (an established connection
    to one of its listening ports), "tcp:<remote port>" (one it opened,
    or one in another state), or "socket" (not TCP)."""
    fds = {}
    folder = "/proc/%d/fd" % pid
    for name in os.listdir(folder):
        try:
            fds[name] = os.readlink(os.path.join(folder, name))
        except OSError:
            continue  # closed meanwhile
    tcp = _tcp_sockets(pid)
    mine = {target[len("socket:["):-1] for target in fds.values()
            if target.startswith("socket:[")}
    listening = {tcp[inode][0] for inode in mine
                 if inode in tcp and tcp[inode][2] == _LISTEN}
    kinds = collections.Counter()
    for target in fds.values():
        if target.startswith("socket:["):
            inode = target[len("socket:["):-1]
            if inode not in tcp:
                kinds["socket"] += 1
                continue
            local, remote, state = tcp[inode]
            if state == _LISTEN:
                kinds["listen"] += 1
            elif state == _ESTABLISHED and local in listening:
                kinds["client"] += 1
            else:
                kinds["tcp:%d" % remote] += 1
        elif target.startswith("pipe:"):
            kinds["pipe"] += 1
        elif target.startswith("anon_inode:"):
            kinds[target] += 1
        else:
            kinds["file"] += 1
    return kinds


def settled(pid, timeout=10):
    """Resources of a worker once idle (thread pools shrink lazily)."""
    deadline = time.monotonic() + timeout
    last = resources(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = resources(pid)
        if now == last:
            return now
        last = now
    return last


class PostgresServer:
    """A throwaway PostgreSQL cluster (Debian's postgresql package) on
    127.0.0.1, with a database "glance" that trusts local connections.
    PostgreSQL refuses to run as root, so under root it runs as the
    "postgres" user, in a folder of its own."""

    def __init__(self):
        found = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed "
                               "(apt-get install postgresql)")
        self.bin = found[-1]
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="guard-pg-"))
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.log_path = self.folder / "postgres.log"
        self.port = free_port()

    @property
    def url(self):
        return "postgresql+psycopg2://glance@127.0.0.1:%d/glance" % self.port

    def _run(self, *args):
        command = [str(a) for a in args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--"] + command
        subprocess.run(command, check=True, capture_output=True,
                       cwd=self.folder)

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        sockets = self.folder / "sockets"
        for d in (self.data, sockets):
            d.mkdir()
        self.log_path.touch()
        if os.geteuid() == 0:
            for p in (self.data, sockets, self.log_path):
                shutil.chown(p, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-A", "trust",
                  "-U", "glance", "--no-sync")
        self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log_path,
                  "-w", "-o", "-h 127.0.0.1 -p %d -k %s -F -c max_connections"
                  "=200" % (self.port, sockets), "start")
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port,
                  "-U", "glance", "glance")
        return self

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "fast",
                          "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class FileServer:
    """Serves ``folder`` on 127.0.0.1 (for web-download), in a thread."""

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def publish(self, data):
        """Serves ``data``; returns its URL."""
        name = uuid.uuid4().hex
        (self.folder / name).write_bytes(data)
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


FINAL_STATES = ("active", "queued", "killed", "deleted")


def wait_for_import(conn, image_id, timeout=120):
    """Polls the image until the import lock is gone and the status is
    final; returns the image. NOTE: not its tasks: with SQLite, reading an
    image's task list (GET /v2/images/{id}/tasks) writes to the database,
    and polling it during imports made them fail with "database is
    locked" (glance/api/v2/images.py, get_task_info)."""
    deadline = time.monotonic() + timeout
    while True:
        image = conn.image.get_image(image_id)
        props = image.properties or {}
        if (image.status in FINAL_STATES
                and "os_glance_import_task" not in props):
            return image
        if time.monotonic() > deadline:
            raise TimeoutError("image %s still %s with lock %s" % (
                image_id, image.status, props.get("os_glance_import_task")))
        time.sleep(0.2)


def image_tasks(conn, image_id):
    """The image's tasks (``GET /v2/images/{id}/tasks``) as openstacksdk
    Task resources. Not ``conn.image.image_tasks()``: openstacksdk 3.0.0,
    which 2024.1 pins, does not have it."""
    from openstack.image.v2 import task as sdk_task
    response = conn.image.get("/images/%s/tasks" % image_id)
    response.raise_for_status()
    return [sdk_task.Task.existing(**t) for t in response.json()["tasks"]]


def last_task(conn, image_id, timeout=60):
    """The newest import task of the image, once it is finished. Call it
    after wait_for_import: Glance records the task's outcome just after
    it drops the image's lock, so the task may still say "processing" for
    a moment. Polled every half second (task reads write to the database;
    see wait_for_import)."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = image_tasks(conn, image_id)
        tasks.sort(key=lambda t: t.get("created_at", ""))
        task = tasks[-1] if tasks else None
        if task is None or task.status in ("success", "failure"):
            return task
        if time.monotonic() > deadline:
            raise TimeoutError("task %s of image %s still %s" % (
                task.id, image_id, task.status))
        time.sleep(0.5)
