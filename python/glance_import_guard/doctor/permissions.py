"""The doctor's rows for the files the guard trusts on the glance-api host:
who, besides root and glance-api's user, can change them.

- ``certificate directory``: with ``[key_manager] backend =
  certificate_directory``, the folder ``[certificate_directory] path``
  (keymanager.py) and the certificates in it. Whoever can write there can
  add a certificate of their own and sign anything with its key.
- ``staging key``: the key that seals the staging records
  (``<staging dir>/.import-guard/key``, staging.py), its folder and the
  staging folder. Whoever can read it, or write it or a folder above it,
  can forge a record and have the import plugin skip reading the data.

A file or folder writable by group or others, or owned by a user other
than root or glance-api's (``--glance-user``), is ``open``, and so is a
key readable by others; each with the ``chmod``/``chown`` that fixes it.
The folders above are checked too (a folder writable by others can be
swapped for another), except the sticky, root-owned ones such as /tmp,
where others cannot rename what is not theirs.
"""

import os
import pwd
import stat

from glance_import_guard import keymanager, staging
from glance_import_guard.doctor.deployment import value
from glance_import_guard.doctor.rows import CLOSED, OPEN, WARNING, Row

# NOTE: staging._key makes the key as ``<records>/key``, mode 0600.
KEY_NAME = "key"
ELSEWHERE = ("run the doctor on the glance-api host, as root or "
             "glance-api's user")


def allowed_owners(glance_user):
    """({uid: name} of the owners allowed, why glance_user is not one)."""
    owners = {0: "root"}
    try:
        entry = (pwd.getpwuid(int(glance_user)) if glance_user.isdigit()
                 else pwd.getpwnam(glance_user))
    except (KeyError, ValueError):
        if glance_user.isdigit():
            owners[int(glance_user)] = glance_user
            return owners, None
        return owners, "no user %s on this host" % glance_user
    owners[entry.pw_uid] = entry.pw_name
    return owners, None


def _ancestors(path):
    """The folders above ``path``, from / down."""
    out, parent = [], os.path.dirname(path)
    while parent and parent not in out:
        out.insert(0, parent)
        if parent == os.path.dirname(parent):
            break
        parent = os.path.dirname(parent)
    return out


def _check(path, owners, secret=False, above=False, chown="root"):
    """(problem, fixes) for one path, or None. ``secret``: others must not
    read it; ``above``: a folder above what is checked, where a sticky
    root-owned folder is safe; ``chown``: the owner the fix gives it."""
    st = os.stat(path)
    problems, chmod, fixes = [], [], []
    if st.st_uid not in owners:
        try:
            name = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            name = "uid %d" % st.st_uid
        problems.append("owned by %s, not %s" % (
            name, " or ".join(sorted(owners.values()))))
        fixes.append("chown %s %s" % (chown, path))
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    sticky = (above and stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
              and st.st_uid == 0)
    if writable and not sticky:
        problems.append("writable by %s" % " and ".join(
            who for who, bit in (("group", stat.S_IWGRP),
                                 ("others", stat.S_IWOTH)) if writable & bit))
        chmod.append("go-w")
    if secret and st.st_mode & stat.S_IROTH:
        problems.append("readable by others")
        chmod.append("o-r")
    if not problems:
        return None
    if chmod:
        fixes.insert(0, "chmod %s %s" % (",".join(chmod), path))
    return "%s (mode %04o): %s" % (
        path, stat.S_IMODE(st.st_mode), ", ".join(problems)), fixes


def _row(door, found, paths, owners, note=None):
    """The row for ``paths`` [(path, secret, above, chown)]: open with
    every problem and its fix, else closed with ``found``."""
    problems, fixes = [], []
    for path, secret, above, chown in paths:
        try:
            result = _check(path, owners, secret, above, chown)
        except OSError as e:
            return Row(door, WARNING, "%s: cannot inspect %s: %s" % (
                found, path, e.strerror), ELSEWHERE)
        if result:
            problems.append(result[0])
            fixes += result[1]
    if note:
        found += "; " + note
    if problems:
        return Row(door, OPEN, "%s; %s" % (found, "; ".join(problems)),
                   "; ".join(dict.fromkeys(fixes)))
    return Row(door, CLOSED, found + "; only %s can change it" % " or ".join(
        sorted(owners.values())), None)


def _folder_paths(folder, names=None, chown="root"):
    """(path, secret, above, chown) for the folders above ``folder`` (to
    be root's), the folder, and each of ``names`` in it (default: every
    entry), to be ``chown``'s."""
    folder = os.path.realpath(folder)
    paths = [(p, False, True, "root") for p in _ancestors(folder)]
    paths.append((folder, False, False, chown))
    for name in sorted(os.listdir(folder) if names is None else names):
        paths.append((os.path.join(folder, name), False, False, chown))
    return paths


def certificate_directory(d):
    door = "certificate directory"
    backend = value(d.conf, "backend", "key_manager")
    if backend != "certificate_directory":
        return Row(door, CLOSED, "[key_manager] backend = %s: no "
                   "certificate directory" % (backend or "(unset)"), None)
    folder = d.conf[keymanager.GROUP].path
    found = "[%s] path = %s" % (keymanager.GROUP, folder or "(unset)")
    if not folder:
        return Row(door, WARNING, found + ": no certificate can be read, "
                   "imports are refused",
                   "set [%s] path in glance-api.conf" % keymanager.GROUP)
    if not os.path.isdir(folder):
        return Row(door, WARNING, found + ": no such folder here",
                   ELSEWHERE)
    owners, note = allowed_owners(d.glance_user)
    try:
        paths = _folder_paths(folder)
    except OSError as e:
        return Row(door, WARNING, "%s: cannot list it: %s" % (
            found, e.strerror), ELSEWHERE)
    return _row(door, found, paths, owners, note)


def staging_key(d):
    door = "staging key"
    staged = staging.staged_path("image", d.conf)
    if staged is None:
        return Row(door, CLOSED, "the staging store is not a local folder "
                   "(node_staging_uri = %s): no staging records" %
                   value(d.conf, "node_staging_uri"), None)
    folder = os.path.dirname(staged)
    records = os.path.join(folder, staging.RECORDS)
    key = os.path.join(records, KEY_NAME)
    found = "staging folder %s, key %s" % (folder, key)
    if not os.path.isdir(folder):
        return Row(door, WARNING, found + ": no such folder here",
                   ELSEWHERE)
    owners, note = allowed_owners(d.glance_user)
    # The records and the key are glance-api's (it makes them, 0700 and
    # 0600): a fix gives them to its user, if known here.
    chown = owners[max(owners)]  # root when the user is unknown here
    paths = _folder_paths(folder, names=[], chown=chown)
    if os.path.isdir(records):
        paths.append((os.path.realpath(records), False, False, chown))
        if os.path.exists(key):
            paths.append((os.path.realpath(key), True, False, chown))
        else:
            note = "; ".join(filter(None, [note, "no key yet: glance-api "
                                           "makes it, mode 0600, at the "
                                           "first stage"]))
    else:
        note = "; ".join(filter(None, [note, "no records yet: glance-api "
                                       "makes %s, mode 0700, at the first "
                                       "stage" % staging.RECORDS]))
    return _row(door, found, paths, owners, note)


def rows(d):
    return [certificate_directory(d), staging_key(d)]
