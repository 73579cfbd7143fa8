"""A private RabbitMQ node on 127.0.0.1 (Debian's rabbitmq-server, see
install-rabbitmq.sh), for the notification tests, and a listener for the
notifications that reach it.

``RabbitServer`` runs its own node: a node name, AMQP, distribution and
epmd ports of its own, mnesia, logs, config and the Erlang cookie (its
HOME) in a temporary folder, so it never meets the node the package's
service may run, nor another test run's. It runs the broker's own script
(/usr/lib/rabbitmq/bin/rabbitmq-server), not /usr/sbin's wrapper, which
as root switches to the rabbitmq user and the package's folders.

``Listener`` collects the notifications on a topic with
oslo_messaging.get_notification_listener, as a consumer of Glance's
notifications (Ceilometer, a SIEM bridge) would.
"""

import contextlib
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

from support import harness

SCRIPT = pathlib.Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class RabbitServer:
    def __init__(self):
        if not SCRIPT.exists():
            raise RuntimeError(
                "RabbitMQ is not installed (%s is missing): run "
                "tests/support/install-rabbitmq.sh (make rabbitmq-deps)"
                % SCRIPT)
        self.folder = pathlib.Path(tempfile.mkdtemp(prefix="guard-rabbit-"))
        self.nodename = "guard-%s@localhost" % uuid.uuid4().hex[:8]
        self.port = harness.free_port()
        self.dist_port = harness.free_port()
        self.epmd_port = harness.free_port()
        self.log_path = self.folder / "log" / "rabbit.log"
        self.process = None
        self.startup_seconds = None

    @property
    def url(self):
        """The transport URL oslo.messaging takes."""
        return "rabbit://guest:guest@127.0.0.1:%d/" % self.port

    def _env(self):
        f = self.folder
        return dict(
            os.environ,
            HOME=str(f),  # the Erlang cookie: $HOME/.erlang.cookie
            ERL_EPMD_PORT=str(self.epmd_port),
            RABBITMQ_NODENAME=self.nodename,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONF_ENV_FILE=str(f / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(f / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(f / "advanced.config"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(f / "enabled_plugins"),
            RABBITMQ_MNESIA_BASE=str(f / "mnesia"),
            RABBITMQ_LOG_BASE=str(f / "log"),
            RABBITMQ_LOGS=str(self.log_path),
            RABBITMQ_PID_FILE=str(f / "rabbit.pid"),
            # One scheduler: the machine is shared; a test bus needs no
            # more.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +A 4",
        )

    def start(self, timeout=90):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        f = self.folder
        for d in ("mnesia", "log"):
            (f / d).mkdir()
        cookie = f / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex)
        cookie.chmod(0o400)
        (f / "rabbitmq-env.conf").write_text("")
        (f / "advanced.config").write_text("[].\n")
        (f / "enabled_plugins").write_text("[].\n")
        (f / "rabbitmq.conf").write_text(
            "listeners.tcp.default = 127.0.0.1:%d\n"
            "disk_free_limit.absolute = 10MB\n"
            "log.console = false\n" % self.port)
        began = time.monotonic()
        out = open(f / "stdout.log", "ab")
        self.process = subprocess.Popen(
            [str(SCRIPT)], cwd=f, env=self._env(), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        deadline = began + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "rabbitmq-server exited (%s) before it answered; "
                    "output:\n%s" % (self.process.returncode, self.tail()))
            if self._answers():
                self.startup_seconds = time.monotonic() - began
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "rabbitmq-server did not answer on 127.0.0.1:%d in "
                    "%ss; output:\n%s" % (self.port, timeout, self.tail()))
            time.sleep(0.5)

    def _answers(self):
        """True once an AMQP client can log in."""
        import kombu
        try:
            with kombu.Connection(self.url.replace("rabbit:", "amqp:"),
                                  connect_timeout=2) as conn:
                conn.connect()
                return True
        except Exception:
            return False

    def tail(self, lines=40):
        text = []
        for path in (self.folder / "stdout.log", self.log_path):
            if path.exists():
                text += ["== %s" % path.name] + path.read_text(
                    errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    def stop(self):
        harness.stop_group(self.process, timeout=30)
        # epmd daemonizes (a session of its own): stop the one on our port.
        epmd = shutil.which("epmd")
        if epmd:
            with contextlib.suppress(Exception):
                subprocess.run([epmd, "-port", str(self.epmd_port), "-kill"],
                               capture_output=True, timeout=10,
                               env=self._env())
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Listener:
    """Collects the notifications sent to ``topic`` on ``url``, on
    ``exchange`` (Glance's is "glance"; oslo.messaging's default,
    "openstack", would hear nothing from Glance), of every priority,
    each as ``{"priority", "publisher_id", "event_type", "payload",
    "metadata"}``."""

    def __init__(self, url, topic="notifications", exchange=None):
        import oslo_messaging
        from oslo_config import cfg
        self.conf = cfg.ConfigOpts()
        self.conf([], project="guard-listener", default_config_files=[])
        self.transport = oslo_messaging.get_notification_transport(
            self.conf, url=url)
        self.events = []
        self.lock = threading.Condition()
        self.listener = oslo_messaging.get_notification_listener(
            self.transport,
            [oslo_messaging.Target(topic=topic, exchange=exchange)],
            [_Endpoint(self)], executor="threading",
            pool="guard-tests-%s" % uuid.uuid4().hex[:8])

    def add(self, priority, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.events.append({
                "priority": priority.upper(), "publisher_id": publisher_id,
                "event_type": event_type, "payload": payload,
                "metadata": metadata})
            self.lock.notify_all()

    def wait_for(self, match, timeout=30):
        """The first event ``match(event)`` is true of; AssertionError
        naming what arrived after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [e for e in self.events if match(e)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "no such notification in %ss; the last to arrive "
                        "(of %d): %s" % (timeout, len(self.events), [
                            (e["event_type"], str(e["payload"])[:160])
                            for e in self.events[-10:]]))
                self.lock.wait(left)

    def matching(self, match):
        with self.lock:
            return [e for e in self.events if match(e)]

    def start(self):
        self.listener.start()
        return self

    def stop(self):
        with contextlib.suppress(Exception):
            self.listener.stop()
            self.listener.wait()
        self.transport.cleanup()


class _Endpoint:
    def __init__(self, sink):
        self.sink = sink

    def _add(priority):
        def method(self, ctxt, publisher_id, event_type, payload, metadata):
            self.sink.add(priority, publisher_id, event_type, payload,
                          metadata)
        return method

    audit = _add("audit")
    debug = _add("debug")
    info = _add("info")
    warn = _add("warn")
    error = _add("error")
    critical = _add("critical")
    sample = _add("sample")

