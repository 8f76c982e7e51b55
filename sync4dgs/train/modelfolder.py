"""Owning a model folder for the length of one ``train`` run: an exclusive lock and a setup rollback.

:class:`ModelFolderLock` is ``M/train.lock``, created atomically (``O_CREAT | O_EXCL``) and holding the pid,
host name and start time of the run. A second run on the same folder fails with one line naming the folder and
the holder. A lock whose pid is no longer alive on this host (a killed run) is stale: it is taken over with a
warning. The lock is removed when the run ends, whatever the outcome.

:class:`SetupRollback` remembers the folder before the run touches it; if the run fails before its first
iteration, :meth:`SetupRollback.restore` puts it back: a folder the run created is removed, paths it added
are deleted and the small files it rewrote (config.json, time maps, stats, offsets.csv) get their old bytes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from sync4dgs.errors import ConfigError
from sync4dgs.model.folder import LOCK_FILE, RESTORED_FILES, lock_path

log = logging.getLogger(__name__)



def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # another user's live process
        return True
    return True


class ModelFolderLock:
    """Exclusive use of a model folder by one process (a context manager; see the module docstring)."""

    def __init__(self, model_path: str | Path):
        self.model_path = Path(model_path)
        self.path = lock_path(self.model_path)
        self.record = {"pid": os.getpid(), "host": socket.gethostname(),
                       "started_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.held = False

    def _holder(self) -> dict[str, Any] | None:
        try:
            d = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return d if isinstance(d, dict) else None

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(self.record) + "\n")
        return True

    def acquire(self) -> None:
        """Take the lock (creating the folder if needed); ConfigError naming the folder and the holder."""
        self.model_path.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):
            if self._create():
                self.held = True
                return
            holder = self._holder()
            if holder == {}:                      # released between our two calls: try again
                continue
            if holder is None:
                raise ConfigError(f"model folder {self.model_path} is locked by an unreadable {LOCK_FILE}; "
                                  "if no training runs on it, delete that file")
            pid, host = holder.get("pid"), holder.get("host")
            if host == self.record["host"] and isinstance(pid, int) and not _pid_alive(pid):
                log.warning("taking over the stale lock of model folder %s (pid %s on %s, started %s, is no "
                            "longer running)", self.model_path, pid, host, holder.get("started_at"))
                self.path.unlink(missing_ok=True)
                continue
            raise ConfigError(f"model folder {self.model_path} is in use by another training run (pid {pid} on "
                              f"{host}, started {holder.get('started_at')}); wait for it or use another "
                              f"--model_path (a dead run's lock: delete {self.path})")
        raise ConfigError(f"model folder {self.model_path}: could not take {LOCK_FILE} (another run keeps "
                          "taking it)")

    def release(self) -> None:
        """Remove the lock if it is still ours (a run that took over a stale lock keeps its own)."""
        if self.held and self._holder() == self.record:
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> "ModelFolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SetupRollback:
    """The model folder as it was before a run (see the module docstring). Create it BEFORE the run writes."""

    def __init__(self, model_path: str | Path):
        self.model_path = Path(model_path)
        self.existed = self.model_path.is_dir()
        self.created_top = self.model_path      # the outermost folder of the path that does not exist yet
        while not self.created_top.parent.exists():
            self.created_top = self.created_top.parent
        self.paths: set[str] = set()
        self.saved: dict[str, bytes] = {}
        self.aside: dict[str, Path] = {}
        self.committed = False
        if self.existed:
            self.paths = {p.relative_to(self.model_path).as_posix() for p in self.model_path.rglob("*")}
            for name in RESTORED_FILES:
                p = self.model_path / name
                if p.is_file():
                    self.saved[name] = p.read_bytes()

    def move_aside(self, name: str) -> None:
        """Rename ``M/name`` (a folder the setup rebuilds, e.g. stage1/) to a hidden backup until commit."""
        p = self.model_path / name
        if p.exists() and name not in self.aside:
            backup = self.model_path / f".{name}.before_run"
            if backup.exists():
                shutil.rmtree(backup)
            os.replace(p, backup)
            self.aside[name] = backup

    def commit(self) -> None:
        """The run got going: drop the backups (a later failure keeps the folder as the run left it)."""
        self.committed = True
        for backup in self.aside.values():
            shutil.rmtree(backup, ignore_errors=True)
        self.aside = {}

    def restore(self) -> None:
        """Put the folder back as it was (the lock file is left to its owner)."""
        root = self.model_path
        if not root.exists():
            return
        if not self.existed:
            for p in root.iterdir():
                if p.name == LOCK_FILE:
                    continue
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
            return
        backups = {b.name for b in self.aside.values()}
        for p in sorted(root.rglob("*"), key=lambda q: len(q.parts), reverse=True):
            rel = p.relative_to(root).as_posix()
            if rel in self.paths or rel == LOCK_FILE or rel.split("/")[0] in backups:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink()
        for name, data in self.saved.items():
            p = root / name
            if not p.is_file() or p.read_bytes() != data:
                p.write_bytes(data)
        for name, backup in self.aside.items():
            if (root / name).exists():
                shutil.rmtree(root / name)
            os.replace(backup, root / name)
        self.aside = {}

    def remove_if_created(self) -> None:
        """After the lock is released: remove the (now empty) folder if this run created it."""
        if self.existed:
            return
        folder = self.model_path
        while folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            if folder == self.created_top:
                break
            folder = folder.parent
