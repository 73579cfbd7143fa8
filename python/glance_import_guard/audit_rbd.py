"""How the audit reads locations in Glance's rbd store: through
glance_store's own driver and configuration, over one cluster connection
per store for the whole run, in the pass's chunk size.

NOTE: glance_store's rbd driver (glance_store/_drivers/rbd.py) connects
to the cluster anew for every read: ``Store.get`` opens a connection for
``get_size`` and its ``ImageIterator`` another, each a new ``rados.Rados``
made by ``Store.get_connection`` and shut down after; and it reads
``rbd_store_chunk_size`` (8 MiB by default) at a time. The driver is not
reusable (no DRIVER_REUSABLE capability), so glance_store makes a new
``Store`` for each read too. That suits glance-api, which reads an image
now and then; an audit reads every image, some at once. Measured on a
one-node Ceph (benches/audit_rbd.py): a connection per image cost a fixed
time per image, so 128 MiB images were audited at half the rate of one
1 GiB image, and each image read at once held its own connection and 8
MiB buffers, about 100 MiB of RSS each. So the audit makes one
``Store`` per rbd store, connects once with that store's
``get_connection`` (its ceph.conf, user and connect timeout), and reads
each image with the driver's ``ImageIterator`` (its read loop and its
``NotFound``) over that connection, ``chunk_size`` bytes at a time.
librados connections are thread-safe; each read opens its own image.
"""

import contextlib
import threading


class Connections:
    """The shared connections of one audit run, a context manager:
    leaving it shuts them down."""

    def __init__(self, chunk_size):
        self.chunk_size = chunk_size
        self.lock = threading.Lock()
        self.stack = contextlib.ExitStack()
        self.stores = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stack.close()

    def reader(self, url, backend):
        """An iterator over the data of ``url`` if it is an rbd location
        (``backend``: its store's identifier, None without
        ``enabled_backends``), else None: glance_store reads it as
        glance-api would."""
        if not url.startswith("rbd://"):
            return None
        import glance_store
        from glance_store import location
        from glance_store._drivers import rbd
        with self.lock:
            shared = self.stores.get(backend)
            if shared is None:
                store = (glance_store.get_store_from_store_identifier(backend)
                         if backend else glance_store.get_store_from_uri(url))
                shared = self.stores[backend] = _SharedStore(
                    store, self.stack)
        if backend:
            where = location.get_location_from_uri_and_backend(url, backend)
        else:
            where = location.get_location_from_uri(url)
        loc = where.store_location
        return rbd.ImageIterator(loc.pool, loc.image, loc.snapshot, shared,
                                 chunk_size=self.chunk_size)


class _SharedStore:
    """What ``ImageIterator`` asks of its store (its pool, user, ceph.conf
    and ``get_connection``), with one connection for every read: made by
    the store's own ``get_connection`` at the first read, kept until the
    run ends. A failed connection is tried again at the next read."""

    def __init__(self, store, stack):
        self.store = store
        self.pool = store.pool
        self.user = store.user
        self.conf_file = store.conf_file
        self.READ_CHUNKSIZE = store.READ_CHUNKSIZE
        self.stack = stack
        self.lock = threading.Lock()
        self.client = None

    @contextlib.contextmanager
    def get_connection(self, conffile, rados_id):
        with self.lock:
            if self.client is None:
                self.client = self.stack.enter_context(
                    self.store.get_connection(conffile=conffile,
                                              rados_id=rados_id))
        yield self.client
