"""A small real OpenStack on 127.0.0.1 for end-to-end tests: PostgreSQL,
Keystone, Barbican and two glance-api processes (RegionOne, RegionTwo)
with the guard as import plugin and as paste filter.

``OpenStack(folder)`` is a context manager. It starts, in ``folder``:

- a private PostgreSQL cluster (``harness.PostgresServer``) with one
  database each for Keystone, Barbican and the two Glances;
- Keystone under gunicorn (fernet tokens), bootstrapped with the admin
  user, project and role in RegionOne, a second region RegionTwo, and a
  catalog of identity, key-manager (Barbican) and image (one Glance per
  region) endpoints, public and internal;
- Barbican under gunicorn (simple_crypto plugin, Keystone auth through its
  stock paste pipeline);
- two glance-api (``harness.GlanceServer``) with Glance's stock
  ``keystone`` flavor (keystonemiddleware against the Keystone above,
  service tokens with the ``service`` role required), castellan's barbican
  key manager, glance-direct, web-download and glance-download, and the
  guard's import plugin and paste filter (``guard=False``: neither, a
  Glance as it ships);
- the users of ``USERS``.

``restart_glance`` restarts one region's glance-api alone, on the same port
(so at the same URL in the catalog), with the guard on or off or other
``[import_guard]`` options: one stack serves several configurations
(tests/tempest/run.py). ``load_metadefs`` and ``keep_location_order`` make
a region's Glance what Tempest expects of a devstack one.

Slow steps run side by side: the databases' migrations, the services'
start. Users, projects, roles and the catalog are made in this process
through Keystone's API (keystoneclient), not one CLI process per object.
Every server runs in its own process group and is in
``harness.GlanceServer.running`` while up, so a failed test gets the end of
each log (tests/conftest.py).

Devstack configures the services the same way (lib/keystone, lib/glance,
barbican's devstack/lib/barbican).
"""

import concurrent.futures
import contextlib
import grp
import os
import pathlib
import pwd
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
import uuid

from support import harness

BIN = harness.BIN
REGIONS = ("RegionOne", "RegionTwo")
DOMAIN = "default"
# Barbican's simple_crypto key-encryption key (a Fernet key; devstack's).
KEK = "dGhpcnR5X3R3b19ieXRlX2tleWJsYWhibGFoYmxhaGg="

# user: (project, roles on it). Passwords are PASSWORD % user.
USERS = {
    "admin": ("admin", ("admin",)),  # made by keystone-manage bootstrap
    "alice": ("demo", ("member", "reader")),
    "bob": ("other", ("member",)),
    "rita": ("demo", ("reader",)),
    # exempt from the signature rule by [import_guard] exempt_roles
    "tess": ("demo", ("member", "reader", "unsigned-uploader")),
    "nova": ("service", ("service",)),  # sends service tokens
    "glance": ("service", ("service",)),  # keystonemiddleware in Glance
    "barbican": ("service", ("service",)),  # keystonemiddleware in Barbican
}
PASSWORD = "secret-%s"


def _owner():
    """keystone-manage fernet_setup wants the owner of the key files."""
    return (pwd.getpwuid(os.geteuid()).pw_name,
            grp.getgrgid(os.getegid()).gr_name)


class Service:
    """One gunicorn server for a WSGI module in ``folder``, on a fixed
    port (so it can be stopped and started again at the same URL)."""

    def __init__(self, name, folder, module, env=None, health="/",
                 threads=8):
        self.name = name
        self.folder = pathlib.Path(folder)
        self.module = module
        self.env = dict(env or {})
        self.health = health
        self.threads = threads
        self.port = harness.free_port()
        self.process = None
        self.log_path = self.folder / ("%s.log" % name)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def launch(self):
        """Starts the server without waiting for it (see wait)."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", "127.0.0.1:%d" % self.port,
             "--workers", "1", "--threads", str(self.threads),
             "--timeout", "300", "--chdir", str(self.folder),
             *harness.gunicorn_options(), self.module],
            cwd=self.folder, env=dict(os.environ, **self.env), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    def wait(self, timeout=60):
        """Waits until the server answers ``health`` (any HTTP status)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("%s exited (%s); log:\n%s" % (
                    self.name, self.process.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + self.health,
                                            timeout=2):
                    pass
            except urllib.error.HTTPError:
                pass  # it answers
            except OSError:
                time.sleep(0.05)
                continue
            if self not in harness.GlanceServer.running:
                harness.GlanceServer.running.append(self)
            return self
        self.stop()
        raise RuntimeError("%s did not answer in %ss; log:\n%s" % (
            self.name, timeout, self.log_tail()))

    def start(self, timeout=60):
        return self.launch().wait(timeout)

    def stop(self, timeout=15):
        if self in harness.GlanceServer.running:
            harness.GlanceServer.running.remove(self)
        harness.stop_group(self.process, timeout)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines=60):
        if not self.log_path.exists():
            return ""
        return "\n".join(
            self.log_path.read_text(errors="replace").splitlines()[-lines:])


class _PostgresLog:
    """PostgreSQL's log, listed with the servers' for failure reports."""

    def __init__(self, server):
        self.log_path = server.log_path

    def log_tail(self, lines=60):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(
                errors="replace").splitlines()[-lines:])
        return ""


def _run(*command, cwd=None, env=None):
    result = subprocess.run([str(c) for c in command], cwd=cwd,
                            env=None if env is None else dict(os.environ,
                                                              **env),
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (
            " ".join(str(c) for c in command), result.returncode,
            result.stdout[-3000:], result.stderr[-3000:]))
    return result.stdout


class OpenStack:
    """Keystone, Barbican and a Glance per region on 127.0.0.1 (see the
    module's docstring). ``timings`` holds how long each step took."""

    def __init__(self, folder, import_guard=None, glance_config=None,
                 guard=True):
        self.folder = pathlib.Path(folder)
        self.import_guard = dict(import_guard or {})
        # the guard's import plugin and paste filter in each glance-api
        self.guard = guard
        # {region: {section: {option: value}}} for one region's Glance
        self.glance_config = dict(glance_config or {})
        self.postgres = None
        self.keystone = None
        self.barbican = None
        self.glances = {}
        self.timings = {}
        self._postgres_log = None
        self._ids = {}

    # -- start and stop -------------------------------------------------

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _done(self, step):
        """Records when ``step`` finished, in seconds since start."""
        self.timings[step] = round(time.monotonic() - self._started, 2)

    def _start(self):
        self._started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.postgres = harness.PostgresServer().start()
        self._postgres_log = _PostgresLog(self.postgres)
        harness.GlanceServer.running.append(self._postgres_log)
        self._create_databases()
        self._done("postgres")
        self.keystone = Service(
            "keystone", self._dir("keystone"), "keystone_wsgi:application",
            env={"OS_KEYSTONE_CONFIG_DIR": str(self._dir("keystone"))},
            health="/v3")
        self.barbican = Service(
            "barbican", self._dir("barbican"), "barbican_wsgi:application",
            # oslo.config finds barbican.conf in ~/ (barbican reads its
            # configuration only from the default places).
            env={"HOME": str(self._dir("barbican"))}, health="/healthcheck",
            threads=4)
        for region in REGIONS:
            self.glances[region] = self._glance(region)
        self._write_keystone()
        self._write_barbican()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            steps = [pool.submit(self._keystone_setup),
                     pool.submit(self._barbican_setup)]
            for region in REGIONS:
                steps.append(pool.submit(self._glance_start, region))
            for future in steps:
                future.result()
        self._populate()
        self._done("catalog and users")
        self.timings["total"] = self.timings["catalog and users"]
        return self

    def _glance_start(self, region):
        # GlanceServer.start runs glance-manage db_sync first;
        # keystonemiddleware reaches Keystone only on requests.
        self.glances[region].start(120)
        self._done("glance %s up" % region)

    def stop(self):
        for glance in self.glances.values():
            glance.stop()
        for service in (self.barbican, self.keystone):
            if service is not None:
                service.stop()
        if self._postgres_log in harness.GlanceServer.running:
            harness.GlanceServer.running.remove(self._postgres_log)
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def _dir(self, name):
        path = self.folder / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _database_url(self, name):
        return "postgresql+psycopg2://glance@127.0.0.1:%d/%s" % (
            self.postgres.port, name)

    def _create_databases(self):
        import psycopg2
        connection = psycopg2.connect(host="127.0.0.1",
                                      port=self.postgres.port,
                                      user="glance", dbname="glance")
        connection.autocommit = True  # CREATE DATABASE needs it
        try:
            with connection.cursor() as cursor:
                for name in ("keystone", "barbican",
                             *(self._glance_db(r) for r in REGIONS)):
                    cursor.execute("CREATE DATABASE %s" % name)
        finally:
            connection.close()

    @staticmethod
    def _glance_db(region):
        return "glance_%s" % region.lower()

    # -- Keystone -------------------------------------------------------

    @property
    def auth_url(self):
        return self.keystone.url + "/v3"

    def _write_keystone(self):
        folder = self._dir("keystone")
        (folder / "keystone.conf").write_text(harness._ini({
            "DEFAULT": {"max_token_size": "16384",
                        "default_log_levels": "sqlalchemy=WARN,"
                        "stevedore=WARN,urllib3=WARN,oslo_policy=WARN,"
                        "keystone.server.flask.request_processing="
                        "WARN,passlib=WARN"},
            "database": {"connection": self._database_url("keystone")},
            "token": {"provider": "fernet"},
            "fernet_tokens": {
                "key_repository": str(folder / "fernet-keys")},
            "credential": {
                "key_repository": str(folder / "credential-keys")},
            # devstack's KEYSTONE_PASSWORD_HASH_ROUNDS: bcrypt's cheapest.
            "identity": {"password_hash_rounds": "4"},
            # Without a cache each token check is ~200 queries (200 ms
            # a request); one worker, so a per-process cache is coherent.
            "cache": {"enabled": "true",
                      "backend": "dogpile.cache.memory"},
        }))
        # Keystone's WSGI app parses sys.argv (gunicorn's arguments here)
        # as its own command line: hide them while it builds the app.
        (folder / "keystone_wsgi.py").write_text(textwrap.dedent("""\
            import sys

            _argv, sys.argv = sys.argv, sys.argv[:1]
            try:
                from keystone.server import wsgi
                application = wsgi.initialize_public_application()
            finally:
                sys.argv = _argv
            """))

    def _keystone_manage(self, *args):
        conf = self._dir("keystone") / "keystone.conf"
        return _run(BIN / "keystone-manage", "--config-file", conf, *args,
                    cwd=self._dir("keystone"))

    def _keystone_setup(self):
        user, group = _owner()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            keys = [pool.submit(self._keystone_manage, command,
                                "--keystone-user", user,
                                "--keystone-group", group)
                    for command in ("fernet_setup", "credential_setup")]
            self._keystone_manage("db_sync")
            for future in keys:
                future.result()
        self._done("keystone db_sync")
        # The server needs only the schema: it starts while bootstrap runs.
        # The rest of the catalog comes later (_populate), through the API:
        # one process instead of one per object.
        self.keystone.launch()
        self._keystone_manage(
            "bootstrap", "--bootstrap-username", "admin",
            "--bootstrap-password", PASSWORD % "admin",
            "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin",
            "--bootstrap-service-name", "keystone",
            "--bootstrap-region-id", REGIONS[0],
            "--bootstrap-public-url", self.auth_url,
            "--bootstrap-internal-url", self.auth_url)
        self._done("keystone bootstrap")
        self.keystone.wait()
        self._done("keystone up")

    def _populate(self):
        """Region, catalog, projects, users and roles, through Keystone's
        API as the admin."""
        from keystoneclient.v3 import client as ks_client
        ks = ks_client.Client(session=self.session("admin"),
                              interface="public")
        ks.regions.create(id=REGIONS[1])
        identity = ks.services.list(type="identity")[0]
        catalog = [(identity, REGIONS[1], self.auth_url)]
        barbican = ks.services.create("barbican", type="key-manager")
        glance = ks.services.create("glance", type="image")
        for region in REGIONS:
            catalog.append((barbican, region, self.barbican.url))
            catalog.append((glance, region, self.glances[region].url))
        for service, region, url in catalog:
            for interface in ("public", "internal"):
                ks.endpoints.create(service, url, interface=interface,
                                    region=region)
        roles = {r.name: r for r in ks.roles.list()}
        for _, role_names in USERS.values():
            for role in role_names:
                if role not in roles:
                    roles[role] = ks.roles.create(role)
        projects = {p.name: p for p in ks.projects.list()}
        for project, _ in USERS.values():
            if project not in projects:
                projects[project] = ks.projects.create(project, DOMAIN)
        for name, (project, role_names) in USERS.items():
            if name == "admin":
                user = ks.users.list(name="admin")[0]
            else:
                user = ks.users.create(name, domain=DOMAIN,
                                       password=PASSWORD % name,
                                       default_project=projects[project])
            self._ids[name] = (user.id, projects[project].id)
            if name == "admin":
                continue
            for role in role_names:
                ks.roles.grant(roles[role], user=user,
                               project=projects[project])

    # -- Barbican -------------------------------------------------------

    def _authtoken(self, user, region, **extra):
        """[keystone_authtoken] for a service's keystonemiddleware."""
        options = {
            "www_authenticate_uri": self.auth_url,
            "auth_url": self.auth_url,
            "auth_type": "password",
            "username": user,
            "password": PASSWORD % user,
            "user_domain_id": DOMAIN,
            "project_name": "service",
            "project_domain_id": DOMAIN,
            "region_name": region,
            "interface": "internal",
        }
        options.update(extra)
        return options

    def _write_barbican(self):
        folder = self._dir("barbican")
        (folder / "barbican.conf").write_text(harness._ini({
            "DEFAULT": {
                "host_href": self.barbican.url,
                "db_auto_create": "false",
                "default_log_levels": "sqlalchemy=WARN,stevedore=WARN,"
                "urllib3=WARN,keystonemiddleware=WARN,oslo_policy=WARN",
            },
            "database": {"connection": self._database_url("barbican")},
            "secretstore": {"enabled_secretstore_plugins": "store_crypto"},
            "crypto": {"enabled_crypto_plugins": "simple_crypto"},
            "simple_crypto_plugin": {"kek": KEK},
            "keystone_authtoken": self._authtoken(
                "barbican", REGIONS[0], service_type="key-manager"),
        }))
        paste = harness.BIN.parent / "etc" / "barbican" / (
            "barbican-api-paste.ini")
        text = paste.read_text().replace(
            "/etc/barbican/healthcheck_disable",
            str(folder / "healthcheck_disable"))
        (folder / "barbican-api-paste.ini").write_text(text)
        # barbican.api.app.get_api_wsgi_script reads the paste file from
        # /etc/barbican: load ours instead.
        (folder / "barbican_wsgi.py").write_text(textwrap.dedent("""\
            import os

            import psycopg2.extensions
            from paste import deploy

            # Barbican writes bytes (base64 text) into its Text columns
            # (encrypted_data.cypher_text, kek_data.plugin_meta); psycopg2
            # sends bytes as bytea, which PostgreSQL stores in a text column
            # as its hex form ("\\x5a30..."), and every secret read back
            # fails ("Invalid base64-encoded string"). MySQL drivers send
            # the bytes as a string. Barbican's schema has no binary column
            # (models.py: "Why LargeBinary on Postgres (BYTEA) not work
            # correctly?"), so in this process bytes are sent as text.
            psycopg2.extensions.register_adapter(
                bytes,
                lambda value: psycopg2.extensions.QuotedString(
                    value.decode("utf-8")))

            application = deploy.loadapp("config:" + os.path.join(
                os.path.dirname(os.path.abspath(__file__)),
                "barbican-api-paste.ini"))
            """))

    def _barbican_setup(self):
        folder = self._dir("barbican")
        _run(BIN / "barbican-manage", "db", "upgrade", "-d",
             self._database_url("barbican"), "-v", "head", cwd=folder,
             env={"HOME": str(folder)})
        self._done("barbican db")
        self.barbican.launch()
        self.barbican.wait()
        self._done("barbican up")

    def stop_barbican(self):
        """Stops Barbican (its URL stays in the catalog)."""
        self.barbican.stop()

    def start_barbican(self):
        """Starts Barbican again, on the same port."""
        if not self.barbican.running:
            self.barbican.start()

    @contextlib.contextmanager
    def barbican_down(self):
        """Barbican stopped for the block, started again afterwards."""
        self.stop_barbican()
        try:
            yield
        finally:
            self.start_barbican()

    # -- Glance ---------------------------------------------------------

    def another_glance(self, region, name):
        """A second glance-api of ``region`` (not started, not in the
        catalog): its database, configuration and Keystone are the
        region's, its folder and staging directory its own, as a second
        host behind the region's endpoint."""
        return self._glance(region, "glance-%s-%s" % (region, name))

    def _glance(self, region, folder=None):
        folder = self._dir(folder or "glance-%s" % region)
        server = harness.GlanceServer(
            folder, database_url=self._database_url(self._glance_db(region)),
            plugins=("import_guard",) if self.guard else (),
            upload_filter=self.guard, flavor="keystone",
            import_guard=self.import_guard,
            extra_config={
                "DEFAULT": {"enabled_import_methods":
                            "[glance-direct, web-download, glance-download]"},
                "keystone_authtoken": self._authtoken(
                    "glance", region, service_token_roles_required="true",
                    service_token_roles="service"),
                "key_manager": {"backend": "barbican"},
                # castellan finds Barbican in the catalog of the user's
                # token, in the Glance's own region.
                "barbican": {"auth_endpoint": self.auth_url,
                             "barbican_endpoint_type": "public",
                             "barbican_region_name": region},
            })
        for section, options in self.glance_config.get(region, {}).items():
            server.extra_config.setdefault(section, {}).update(options)
        return server

    def glance(self, region="RegionOne"):
        """The region's harness.GlanceServer."""
        return self.glances[region]

    _KEEP = object()

    def restart_glance(self, region="RegionOne", guard=None,
                       import_guard=_KEEP, timeout=120):
        """Stops the region's glance-api and starts it again on the same
        port, the rest of the stack untouched. ``guard``: True or False
        puts the guard's import plugin and paste filter in or takes both
        out (None: as they are); ``import_guard``: the ``[import_guard]``
        options from now on (``{}``: the defaults; not given: as they
        are). Returns the harness.GlanceServer."""
        server = self.glances[region]
        server.stop()
        if guard is not None:
            server.plugins = ["import_guard"] if guard else []
            server.upload_filter = bool(guard)
        if import_guard is not self._KEEP:
            server.import_guard = dict(import_guard or {})
        # GlanceServer.start rewrites glance-api.conf, the paste file and
        # glance-image-import.conf from these before it starts.
        server.start(timeout, port=server.port)
        return server

    def load_metadefs(self, region="RegionOne"):
        """Loads the metadata definitions glance ships (etc/glance/metadefs
        of the installed package) into the region's database, as devstack
        does (lib/glance: glance-manage db_load_metadefs)."""
        server = self.glances[region]
        folder = BIN.parent / "etc" / "glance" / "metadefs"
        if not folder.is_dir():
            raise RuntimeError("%s not found; is glance installed?" % folder)
        conf = server.workdir / "glance-metadefs.conf"
        conf.write_text(harness._ini({"database": {
            "connection": self._database_url(self._glance_db(region))}}))
        _run(BIN / "glance-manage", "--config-file", conf,
             "db_load_metadefs", folder, cwd=server.workdir)

    def keep_location_order(self, region="RegionOne"):
        """Makes the region's Glance list an image's locations (so its
        ``stores``) in the order they were added. Glance's query has no
        ORDER BY; PostgreSQL answers in whatever order its plan gives, so
        an image in two stores is now ``cheap,fast``, now ``fast,cheap``
        (Tempest's multi-store waiters want the sorted one). An index on
        (image_id, id) and no sequential scans give the insertion order.
        Takes effect for new connections: restart the region's glance-api
        after it."""
        self.glance_sql(region, "CREATE INDEX IF NOT EXISTS "
                        "image_locations_image_id_id_idx "
                        "ON image_locations (image_id, id)")
        self.glance_sql(region, "ALTER DATABASE %s SET enable_seqscan = off"
                        % self._glance_db(region))

    def glance_sql(self, region, statement, *params):
        """Runs ``statement`` on the region's Glance database: what an
        image record looks like when something other than Glance's API
        wrote it (OSSN-0090's snapshots have no os_hash_value). Returns
        the rows of a query (None for other statements)."""
        import psycopg2
        with contextlib.closing(psycopg2.connect(
                host="127.0.0.1", port=self.postgres.port, user="glance",
                dbname=self._glance_db(region))) as db:
            with db, db.cursor() as cursor:
                cursor.execute(statement, params)
                if cursor.description is not None:
                    return cursor.fetchall()
        return None

    def image_path(self, image_id, region="RegionOne"):
        """The file holding the image's data in the region's file store
        (to change the bytes behind Glance's back)."""
        return self.glances[region].store_dir / str(image_id)

    # -- clients --------------------------------------------------------

    def user_id(self, user):
        return self._ids[user][0]

    def project_id(self, user):
        return self._ids[user][1]

    def auth(self, user):
        """A keystoneauth Password plugin: the user, scoped to the
        project USERS gives them."""
        from keystoneauth1.identity import v3
        return v3.Password(
            auth_url=self.auth_url, username=user, password=PASSWORD % user,
            user_domain_id=DOMAIN, project_name=USERS[user][0],
            project_domain_id=DOMAIN)

    def session(self, user):
        """A keystoneauth session acting as ``user``."""
        from keystoneauth1 import session as ks_session
        return ks_session.Session(auth=self.auth(user))

    def service_session(self, user, service_user="nova"):
        """A session sending ``user``'s token and ``service_user``'s as the
        service token (X-Service-Token), as Nova does for snapshots."""
        from keystoneauth1 import service_token
        from keystoneauth1 import session as ks_session
        return ks_session.Session(auth=service_token.ServiceTokenAuthWrapper(
            user_auth=self.auth(user), service_auth=self.auth(service_user)))

    def cli_environment(self, user, region="RegionOne"):
        """The ``OS_*`` variables with which the openstack and glance
        commands act as ``user`` in ``region`` (as an openrc sets them)."""
        return {"OS_AUTH_URL": self.auth_url, "OS_IDENTITY_API_VERSION": "3",
                "OS_USERNAME": user, "OS_PASSWORD": PASSWORD % user,
                "OS_USER_DOMAIN_ID": DOMAIN,
                "OS_PROJECT_NAME": USERS[user][0],
                "OS_PROJECT_DOMAIN_ID": DOMAIN, "OS_REGION_NAME": region,
                "OS_INTERFACE": "public", "OS_IMAGE_API_VERSION": "2"}

    def connection(self, user, region="RegionOne", session=None):
        """An openstacksdk Connection as ``user`` in ``region`` (over
        ``session`` if given, e.g. a service_session)."""
        import openstack.connection
        return openstack.connection.Connection(
            session=session or self.session(user), region_name=region,
            interface="public", image_api_version="2")

    def image_url(self, region="RegionOne"):
        return self.glances[region].url

    # -- Barbican secrets -----------------------------------------------

    def barbican_client(self, user):
        from barbicanclient import client as barbican_client
        return barbican_client.Client(session=self.session(user),
                                      region_name=REGIONS[0],
                                      interface="public")

    def _store_secret(self, user, **kwargs):
        ref = self.barbican_client(user).secrets.create(**kwargs).store()
        return ref.rstrip("/").rsplit("/", 1)[-1]

    def store_certificate(self, pem, user="alice", name=None):
        """Stores a PEM certificate as a Barbican ``certificate`` secret
        as ``user`` (what castellan's barbican backend stores and reads);
        returns its UUID."""
        if not bytes(pem).startswith(b"-----BEGIN"):
            raise ValueError("castellan's barbican backend wants PEM")
        return self._store_secret(
            user, name=name or "cert-%s" % uuid.uuid4().hex[:8],
            payload=bytes(pem), secret_type="certificate")

    def signer(self, user="alice"):
        """A new RSA key and its self-signed certificate stored in
        Barbican as ``user``: (key, secret UUID)."""
        from cryptography.hazmat.primitives import serialization

        from support import signing
        key = signing.make_key("RSA-PSS")
        pem = signing.make_certificate(key).public_bytes(
            serialization.Encoding.PEM)
        return key, self.store_certificate(pem, user)

    def store_secret(self, payload, user="alice", secret_type="opaque",
                     name=None):
        """Stores a secret that is not a certificate (``opaque``,
        ``passphrase``, ...) as ``user``; returns its UUID."""
        return self._store_secret(
            user, name=name or "%s-%s" % (secret_type, uuid.uuid4().hex[:8]),
            payload=payload, secret_type=secret_type)

    # -- logs -----------------------------------------------------------

    def servers(self):
        """Every process's log holder, for reports."""
        found = [self._postgres_log, self.keystone, self.barbican,
                 *self.glances.values()]
        return [s for s in found if s is not None]

    def log_tails(self, lines=40):
        return "\n\n".join("== %s\n%s" % (s.log_path, s.log_tail(lines))
                           for s in self.servers())
