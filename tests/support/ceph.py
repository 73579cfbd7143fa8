"""A real one-node Ceph cluster on 127.0.0.1, for Glance's rbd store.

``Ceph(folder)`` writes a ceph.conf into ``folder``, makes one monitor, one
manager and one OSD (BlueStore on a sparse file in the folder), runs each
daemon in the foreground (``-f``) as a child in a process group of its
own, waits until the cluster is HEALTH_OK and makes the pools ``images``
(Glance's) and ``vms`` (Nova's), each ``rbd pool init``-ed. ``stop()``
ends the daemons by their process groups. Everything (data, logs, admin
sockets) stays under the folder; nothing is read from or written to
/etc/ceph or /var/lib/ceph. Needs Debian's ceph-mon, ceph-mgr, ceph-osd,
ceph-common (tests/support/install-ceph.sh).

``auth none``: clients need no keyring. Pools have one replica
(``osd_pool_default_size = 1``, which the monitor refuses without
``mon_allow_pool_size_one``).

``make_bindings_reachable(venv)`` lets a virtualenv import the ``rados``
and ``rbd`` modules of Debian's python3-rados / python3-rbd, which are
built for Debian's CPython 3.11 only and live in
/usr/lib/python3/dist-packages among Debian's other Python packages: the
venv gets a folder with symlinks to just the two extension modules and a
``.pth`` file naming it. glance_store's rbd driver imports them
(glance_store/_drivers/rbd.py) in glance-api and in the audit.

Run as a script: ``python tests/support/ceph.py link-bindings VENV``.
"""

import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import uuid

DIST_PACKAGES = pathlib.Path("/usr/lib/python3/dist-packages")
BINDINGS = ("rados", "rbd")
BINDINGS_FOLDER = "ceph-bindings"
POOLS = ("images", "vms")


class CephMissing(RuntimeError):
    """Ceph (or its Python bindings) is not installed."""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _extension(name):
    """Debian's extension module ``name`` for this interpreter's ABI."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    path = DIST_PACKAGES / (name + suffix)
    if not path.exists():
        raise CephMissing(
            "%s not found: the rados/rbd bindings are Debian's python3-rados"
            " and python3-rbd, for Debian's CPython (%s here); run "
            "`make ceph-deps`" % (path, suffix))
    return path


def bindings_folder(venv):
    return pathlib.Path(venv) / BINDINGS_FOLDER


def make_bindings_reachable(venv=sys.prefix):
    """Links Debian's ``rados`` and ``rbd`` extension modules into
    ``venv`` (a folder of symlinks and a ``.pth`` naming it in the venv's
    site-packages), idempotently; returns the folder. Only the two
    modules: the rest of dist-packages would shadow the venv's packages.
    A running interpreter also gets the folder on ``sys.path`` when it is
    the venv's own (``.pth`` files are read at startup only)."""
    venv = pathlib.Path(venv).resolve()
    folder = bindings_folder(venv)
    folder.mkdir(exist_ok=True)
    for name in BINDINGS:
        target = _extension(name)
        link = folder / target.name
        if not (link.is_symlink() and os.readlink(link) == str(target)):
            fresh = folder / (".%s.%s" % (target.name, uuid.uuid4().hex))
            fresh.symlink_to(target)
            os.replace(fresh, link)
    pth = _site_packages(venv) / "ceph-bindings.pth"
    if not pth.exists() or pth.read_text() != "%s\n" % folder:
        fresh = pth.with_name(".%s.%s" % (pth.name, uuid.uuid4().hex))
        fresh.write_text("%s\n" % folder)
        os.replace(fresh, pth)
    if pathlib.Path(sys.prefix).resolve() == venv and \
            str(folder) not in sys.path:
        sys.path.append(str(folder))
    return folder


def _site_packages(venv):
    found = sorted(pathlib.Path(venv).glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise RuntimeError("no single site-packages in %s: %s" % (
            venv, found))
    return found[0]


def _tool(name):
    path = shutil.which(name) or "/usr/bin/%s" % name
    if not os.path.exists(path):
        raise CephMissing("%s is not installed: run `make ceph-deps` "
                          "(tests/support/install-ceph.sh)" % name)
    return path


class Ceph:
    """One monitor, one manager, one OSD, under ``folder``.

    :param folder: where ceph.conf, the daemons' data, logs and sockets go
    :param osd_size: size of the OSD's (sparse) BlueStore file, bytes
    """

    def __init__(self, folder, osd_size=10 << 30):
        self.folder = pathlib.Path(folder).resolve()
        self.osd_size = osd_size
        self.conf = self.folder / "ceph.conf"
        self.fsid = str(uuid.uuid4())
        self.mon_ports = None
        self.processes = {}
        self.timings = {}

    # -- setup ---------------------------------------------------------

    def _write_conf(self):
        f = self.folder
        v2, v1 = self.mon_ports
        # Daemons bind their own ports in [ms_bind_port_min,
        # ms_bind_port_max] (6800-7300 by default), taking the first free
        # ones; the monitor's two are picked here.
        self.conf.write_text(textwrap.dedent("""\
            [global]
            fsid = {fsid}
            mon host = [v2:127.0.0.1:{v2},v1:127.0.0.1:{v1}]
            mon initial members = a
            public addr = 127.0.0.1
            cluster addr = 127.0.0.1
            auth cluster required = none
            auth service required = none
            auth client required = none
            auth supported = none
            # Without it a client with auth none can loop in
            # AUTH_CONNECTING (seen with radosgw).
            ms mon client mode = crc secure
            keyring = {f}/keyring
            run dir = {f}/run
            # $pid and $cctid: each client (rbd, rados, every librados
            # connection in glance-api, which opens a second one to
            # delete an image while the first is open) gets its own
            # admin socket; with one path shared, every client after the
            # first prints "File exists".
            admin socket = {f}/run/$cluster-$name.$pid.$cctid.asok
            pid file = {f}/run/$cluster-$name.pid
            log file = {f}/log/$cluster-$name.log
            mon cluster log file = {f}/log/$cluster.log
            crash dir = {f}/crash
            log to stderr = false
            err to stderr = true
            osd pool default size = 1
            osd pool default min size = 1
            osd pool default pg num = 8
            osd pool default pgp num = 8
            osd pool default pg autoscale mode = off
            osd crush chooseleaf type = 0
            mon allow pool size one = true
            mon allow pool delete = true
            mon warn on pool no redundancy = false
            mon warn on insecure global id reclaim = false
            mon warn on insecure global id reclaim allowed = false
            # The disk this runs on may be more than 70% full.
            mon data avail warn = 1
            mon data avail crit = 0
            # Not the default "restful iostat nfs" (restful wants a
            # certificate); the always-on modules (rbd_support,
            # devicehealth, ...) still run.
            mgr initial modules =

            [mon]
            mon data = {f}/mon/$cluster-$id

            [mgr]
            mgr data = {f}/mgr/$cluster-$id

            [osd]
            osd data = {f}/osd/$cluster-$id
            osd objectstore = bluestore
            bluestore block path = {f}/osd/block
            bluestore block create = true
            bluestore block size = {size}
            bluestore fsck on mkfs = false
            bluestore fsck on mount = false
            osd memory target = 1073741824
            osd crush update on start = true
            """).format(fsid=self.fsid, f=f, v2=v2, v1=v1,
                        size=self.osd_size))

    def _run(self, *args, timeout=60, **kwargs):
        return subprocess.run([str(a) for a in args], check=True,
                              capture_output=True, text=True,
                              timeout=timeout, cwd=self.folder, **kwargs)

    def ceph(self, *args, timeout=60):
        """``ceph -c ceph.conf ARGS``; returns stdout."""
        return self._run(_tool("ceph"), "-c", self.conf,
                         "--connect-timeout", "20", *args,
                         timeout=timeout).stdout

    def rbd(self, *args, timeout=60, **kwargs):
        return self._run(_tool("rbd"), "-c", self.conf, *args,
                         timeout=timeout, **kwargs).stdout

    def rados(self, *args, timeout=60):
        return self._run(_tool("rados"), "-c", self.conf, *args,
                         timeout=timeout).stdout

    def _daemon(self, name, *args):
        log = open(self.folder / "log" / ("%s.out" % name), "ab")
        try:
            self.processes[name] = subprocess.Popen(
                [*args, "-f", "-c", str(self.conf)], cwd=self.folder,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()

    def start(self, timeout=60):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        for tool in ("ceph-mon", "ceph-mgr", "ceph-osd", "monmaptool",
                     "ceph-authtool", "ceph", "rbd", "rados"):
            _tool(tool)
        started = time.monotonic()
        for d in ("run", "log", "crash", "mon/ceph-a", "mgr/ceph-x",
                  "osd/ceph-0"):
            (self.folder / d).mkdir(parents=True, exist_ok=True)
        # Admin sockets are Unix sockets: their path must fit in 107 bytes.
        longest = self.folder / "run" / (
            "ceph-client.admin.4194304.%d.asok" % 2**64)
        if len(str(longest)) > 107:
            raise RuntimeError("%s is too long a folder for Ceph's admin "
                               "sockets (at most %d characters)" % (
                                   self.folder, 107 - len(str(longest))
                                   + len(str(self.folder))))
        self.mon_ports = (_free_port(), _free_port())
        self._write_conf()
        # ceph-mon --mkfs wants a keyring with the mon. key even with
        # auth none.
        self._run(_tool("ceph-authtool"), "--create-keyring",
                  self.folder / "keyring", "--gen-key", "-n", "mon.",
                  "--cap", "mon", "allow *")
        v2, v1 = self.mon_ports
        self._run(_tool("monmaptool"), "--create", "--clobber",
                  "--fsid", self.fsid, "--addv", "a",
                  "[v2:127.0.0.1:%d,v1:127.0.0.1:%d]" % (v2, v1),
                  self.folder / "monmap")
        self._run(_tool("ceph-mon"), "-c", self.conf, "--mkfs", "-i", "a",
                  "--monmap", self.folder / "monmap",
                  "--keyring", self.folder / "keyring")
        self._daemon("mon.a", _tool("ceph-mon"), "-i", "a")
        self.ceph("mon", "dump")  # waits for the monitor to answer
        self.timings["mon"] = time.monotonic() - started
        self._daemon("mgr.x", _tool("ceph-mgr"), "-i", "x")
        osd_uuid = str(uuid.uuid4())
        osd_id = self.ceph("osd", "new", osd_uuid).strip()
        if osd_id != "0":
            raise RuntimeError("ceph osd new gave id %r" % osd_id)
        self._run(_tool("ceph-osd"), "-c", self.conf, "-i", "0", "--mkfs",
                  "--osd-uuid", osd_uuid, timeout=120)
        self._daemon("osd.0", _tool("ceph-osd"), "-i", "0")
        self.timings["osd"] = time.monotonic() - started
        for pool in POOLS:
            self.ceph("osd", "pool", "create", pool, "8", "8")
        # rbd pool init waits for the pool's PGs to be active (the OSD
        # boots meanwhile, about 10 s), then about 3 s more: both at once.
        inits = [subprocess.Popen(
            [_tool("rbd"), "-c", str(self.conf), "pool", "init", pool],
            cwd=self.folder, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True) for pool in POOLS]
        for pool, init in zip(POOLS, inits):
            try:
                out, _ = init.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                init.kill()
                out, _ = init.communicate()
            if init.returncode:
                raise RuntimeError("rbd pool init %s failed (%s): %s" % (
                    pool, init.returncode, out))
        self.timings["pools"] = time.monotonic() - started
        self._wait(lambda: self.health() == "HEALTH_OK", timeout,
                   "HEALTH_OK")
        self.timings["health_ok"] = time.monotonic() - started
        return self

    def _wait(self, done, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError("%s exited (%s):\n%s" % (
                        name, process.returncode, self.log_tail(name)))
            if done():
                return
            if time.monotonic() > deadline:
                raise RuntimeError("Ceph not %s after %ss:\n%s" % (
                    what, timeout, self.ceph("health", "detail")))
            time.sleep(0.5)

    def health(self):
        return self.ceph("health").split()[0]

    def log_tail(self, name, lines=40):
        path = self.folder / "log" / ("%s.out" % name)
        text = path.read_text(errors="replace") if path.exists() else ""
        log = self.folder / "log" / ("ceph-%s.log" % name)
        if log.exists():
            text += log.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout=20):
        """Stops the daemons (OSD, manager, monitor) by process group:
        SIGTERM, then SIGKILL after ``timeout``."""
        for name in ("osd.0", "mgr.x", "mon.a"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @contextlib.contextmanager
    def client(self):
        """A connected ``rados.Rados`` (Debian's bindings; see
        make_bindings_reachable), shut down afterwards."""
        import rados
        cluster = rados.Rados(conffile=str(self.conf), rados_id="admin")
        cluster.connect(timeout=20)
        try:
            yield cluster
        finally:
            cluster.shutdown()

    # -- what is in a pool -----------------------------------------------

    def images(self, pool="images"):
        """RBD image names in ``pool`` (``rbd ls``)."""
        return set(json.loads(self.rbd("ls", "--format", "json", pool)))

    def snapshots(self, pool, image):
        """{snapshot name: protected?} of an RBD image."""
        snaps = json.loads(self.rbd("snap", "ls", "--format", "json",
                                    "%s/%s" % (pool, image)))
        return {s["name"]: s.get("protected") == "true" for s in snaps}

    def trash(self, pool="images"):
        """{trash id: image name} of the pool's trash (``rbd trash ls``)."""
        entries = json.loads(self.rbd("trash", "ls", "--all", "--format",
                                      "json", pool))
        return {e["id"]: e["name"] for e in entries}

    def objects(self, pool="images"):
        """Every RADOS object in ``pool`` (``rados ls``)."""
        return set(self.rados("-p", pool, "ls").split())

    def directory(self, pool="images"):
        """The keys of the pool's ``rbd_directory`` (``name_<image>`` and
        ``id_<internal id>`` for each image), empty before the first
        image."""
        if "rbd_directory" not in self.objects(pool):
            return set()
        return set(self.rados("-p", pool, "listomapkeys",
                              "rbd_directory").split())

    def contents(self, pool="images"):
        """Everything the pool holds, for "leaves nothing" assertions:
        images with their snapshots, trash entries, RADOS objects and the
        rbd_directory's keys."""
        return {
            "images": {name: self.snapshots(pool, name)
                       for name in self.images(pool)},
            "trash": self.trash(pool),
            "objects": self.objects(pool),
            "directory": self.directory(pool),
        }

    def export(self, spec):
        """The bytes of an RBD image or snapshot (``rbd export SPEC -``)."""
        return subprocess.run(
            [_tool("rbd"), "-c", str(self.conf), "export", "--no-progress",
             spec, "-"], check=True, capture_output=True, timeout=120,
            cwd=self.folder).stdout


def main(argv):
    if len(argv) == 3 and argv[1] == "link-bindings":
        print(make_bindings_reachable(argv[2]))
        return 0
    if len(argv) == 2 and argv[1] == "try":
        import tempfile
        folder = tempfile.mkdtemp(prefix="ceph-try-")
        with Ceph(folder) as cluster:
            print(cluster.timings, cluster.ceph("-s"))
        shutil.rmtree(folder)
        return 0
    sys.stderr.write("usage: %s link-bindings VENV | try\n" % argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
