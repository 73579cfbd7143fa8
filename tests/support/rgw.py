"""A RADOS Gateway (S3) on a running ``ceph.Ceph`` cluster, for Glance's
s3 store.

``RadosGateway(cluster)`` runs Debian's ``radosgw`` in the foreground
(``-f``) as ``client.rgw.a`` against the cluster's ceph.conf, with the
beast frontend on 127.0.0.1 and a free port, in a process group of its
own; waits until it answers HTTP; then ``radosgw-admin user create``
makes an S3 user (``glance``) whose keys are ``access_key`` and
``secret_key``. Its data, log and admin socket stay under the cluster's
folder (``rgw/``, ``log/``, ``run/``). RGW makes its own pools
(``.rgw.root``, ``default.rgw.*``) on first start, with the cluster's
defaults (one replica, 8 PGs).

The cluster's ceph.conf must have ``ms mon client mode = crc secure``
(tests/support/ceph.py writes it): without it radosgw, with ``auth
none``, loops in AUTH_CONNECTING.

``client()`` is a boto3 S3 client on the gateway (path-style addressing,
as Glance's ``s3_store_bucket_url_format = path``); ``contents(bucket)``
lists a bucket's objects and its incomplete multipart uploads with their
parts, for "leaves nothing" assertions.

Needs Debian's radosgw (tests/support/install-ceph.sh) and boto3.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

from support import ceph


class RadosGateway:
    """One radosgw on ``cluster`` (a started ``ceph.Ceph``).

    :param cluster: the running cluster
    :param uid: the S3 user made once the gateway answers
    """

    name = "client.rgw.a"

    def __init__(self, cluster, uid="glance"):
        self.cluster = cluster
        self.uid = uid
        self.folder = cluster.folder
        self.port = None
        self.process = None
        self.access_key = None
        self.secret_key = None
        self.timings = {}

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def out_path(self):
        return self.folder / "log" / "rgw.a.out"

    def admin(self, *args, timeout=60):
        """``radosgw-admin -c ceph.conf ARGS``; returns stdout."""
        return self.cluster._run(ceph._tool("radosgw-admin"), "-c",
                                 self.cluster.conf, *args,
                                 timeout=timeout).stdout

    def start(self, timeout=90):
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout):
        radosgw = ceph._tool("radosgw")
        ceph._tool("radosgw-admin")
        started = time.monotonic()
        (self.folder / "rgw").mkdir(exist_ok=True)
        self.port = ceph._free_port()
        log = open(self.out_path, "ab")
        try:
            self.process = subprocess.Popen(
                [radosgw, "-f", "-c", str(self.cluster.conf), "-n", self.name,
                 "--rgw-data", str(self.folder / "rgw"),
                 "--rgw-frontends",
                 "beast endpoint=127.0.0.1:%d" % self.port],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError("radosgw exited (%s):\n%s" % (
                    self.process.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("radosgw did not answer in %ss:\n%s" % (
                    timeout, self.log_tail()))
            time.sleep(0.25)
        self.timings["answers"] = time.monotonic() - started
        user = json.loads(self.admin("user", "create", "--uid", self.uid,
                                     "--display-name", self.uid))
        keys = user["keys"][0]
        self.access_key = keys["access_key"]
        self.secret_key = keys["secret_key"]
        self.timings["user"] = time.monotonic() - started
        return self

    def _answers(self):
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered (an anonymous 403 is an answer)
        except OSError:
            return False

    def log_tail(self, lines=40):
        text = ""
        for path in (self.out_path,
                     self.folder / "log" / ("ceph-%s.log" % self.name)):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout=20):
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- S3 ------------------------------------------------------------------

    def client(self):
        """A boto3 S3 client as the gateway's user (path-style)."""
        import boto3
        from botocore.config import Config
        return boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key).client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def contents(self, bucket, prefix=""):
        """What ``bucket`` holds under ``prefix``: {"objects": {key:
        size}, "uploads": {(key, upload id): [part sizes]}} (incomplete
        multipart uploads, which ListObjects does not show). A bucket
        that does not exist holds nothing."""
        s3 = self.client()
        objects, uploads = {}, {}
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix):
                for o in page.get("Contents", []):
                    objects[o["Key"]] = o["Size"]
            for page in s3.get_paginator("list_multipart_uploads").paginate(
                    Bucket=bucket, Prefix=prefix):
                for u in page.get("Uploads", []):
                    parts = []
                    for p in s3.get_paginator("list_parts").paginate(
                            Bucket=bucket, Key=u["Key"],
                            UploadId=u["UploadId"]):
                        parts += [x["Size"] for x in p.get("Parts", [])]
                    uploads[(u["Key"], u["UploadId"])] = parts
        except s3.exceptions.NoSuchBucket:
            pass
        return {"objects": objects, "uploads": uploads}
