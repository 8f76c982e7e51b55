"""Atomic writes: nothing half-written is ever left behind.

Files are written to a temporary sibling (``.NAME.<random>.tmp<suffix>``) and renamed into place; folders are
built in a temporary sibling folder (``.NAME.<random>.tmp``) and renamed at the end (the old folder, if any, is
replaced only on success).

A process killed in the middle (kill -9, power loss) leaves its temporary behind. While a temporary is being
written, its writer holds an advisory ``flock`` on it; the kernel drops that lock when the process dies,
whatever killed it. :func:`remove_stale_temporaries` therefore deletes exactly the temporaries whose writer is
gone (it can take their lock) and leaves those of live writers alone (on a file system without ``flock``
support nothing is deleted: the temporaries are only ignored, as every reader does). ``atomic_dir`` sweeps the
stale temporaries of its own output before it builds a new one; ``train`` sweeps the model folder, the frame
cache its own cache folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from sync4dgs.errors import DataFormatError

try:
    import fcntl
except ImportError:          # pragma: no cover - not POSIX: temporaries are ignored, never swept
    fcntl = None

TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp(\.[^./]+)?$")     # what atomic_path/atomic_dir name a temporary


def _hold(path: Path) -> int | None:
    """Open ``path`` (file or folder) and take an exclusive flock on it without waiting; the descriptor, or None
    when another process holds the lock or the file system cannot lock."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)             # closing the last descriptor drops the flock


def remove_stale_temporaries(folder: str | Path, recursive: bool = True, prefix: str = "") -> list[Path]:
    """Delete the temporaries of atomic writes under ``folder`` whose writer is gone (see the module docstring);
    returns their paths. ``prefix``: only names starting with it (e.g. ``".scene."``)."""
    folder = Path(folder)
    if not folder.is_dir() or fcntl is None:
        return []
    found = folder.rglob(f"{prefix}*") if recursive else folder.glob(f"{prefix}*")
    removed = []
    for p in sorted(found, key=lambda q: len(q.parts)):
        if not TEMPORARY.match(p.name) or p.is_symlink() or not p.exists():
            continue
        fd = _hold(p)
        if fd is None:
            continue             # a live writer's, or no locking here: leave it
        try:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        finally:
            _release(fd)
        removed.append(p)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)     # "being written": dropped if this process dies
        except OSError:
            pass
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        os.close(fd)
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=indent) + "\n")


def read_json_object(path: str | Path) -> dict[str, Any]:
    """The JSON object in the existing file ``path`` (DataFormatError naming the file if it is not valid JSON or
    its top level is not an object). The caller decides what a missing file means."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(path, f"invalid JSON: {e}") from e
    if not isinstance(d, dict):
        raise DataFormatError(path, f"top level must be a JSON object, got a JSON {type(d).__name__}")
    return d


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces ``path`` (removed on failure).

    Raises FileExistsError if ``path`` exists and ``overwrite`` is False, or if it is a file or a link (a folder
    helper never replaces those).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise FileExistsError(f"{path} exists and is not a folder; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover_interrupted_swap(path)
    remove_stale_temporaries(path.parent, recursive=False, prefix=f".{path.name}.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    held = _hold(tmp)                 # "being built": dropped if this process dies
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        _release(held)
        if tmp.exists():
            shutil.rmtree(tmp)


def _recover_interrupted_swap(path: Path) -> None:
    """Undo what a process killed while swapping a rebuilt ``path`` into place left: ``.NAME.old`` is the previous
    complete folder. Next to a ``path`` (the swap finished, its clean-up did not) it is removed; alone (killed
    between the two renames) it is put back as ``path``, so nothing the user had is lost."""
    old = path.with_name(f".{path.name}.old")
    if not old.is_dir() or old.is_symlink():
        return
    if path.exists():
        shutil.rmtree(old)
    else:
        os.replace(old, path)
