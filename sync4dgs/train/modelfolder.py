"""Owning a model folder for the length of one ``train`` run: an exclusive lock and a setup rollback.

:class:`ModelFolderLock` is ``M/train.lock``, created atomically (``O_CREAT | O_EXCL``) and holding the pid,
host name, boot id and start time of the run; while the run lives, a background thread touches the file every
``HEARTBEAT_S`` seconds (its modification time is the heartbeat). A second run on the same folder fails with one
line naming the folder, the holder and the way out. A lock is stale, and taken over with a warning, when:

* it was taken on this host (same host name and boot) by a pid that is no longer alive (a killed run), or on
  this host before its last reboot (another boot id);
* it was taken on another host and its heartbeat is older than ``STALE_AFTER_S`` (that host's run died, or
  the host did; clocks of the hosts sharing the folder must agree within a minute or so).

``force=True`` (``train --force_unlock``) takes over any lock, for a lock the rule still trusts but that you
know to be dead (e.g. a host that went down less than ``STALE_AFTER_S`` ago). The lock is removed when the run
ends, whatever the outcome.

:class:`SetupRollback` remembers the folder before the run touches it; if the run fails before its first
iteration, :meth:`SetupRollback.restore` puts it back: a folder the run created is removed, paths it added
are deleted and the small files it rewrote (config.json, time maps, stats, offsets.csv) get their old bytes.
:meth:`SetupRollback.recover` (called once the lock is held) first repairs what a KILLED run left: the
backups its setup had moved aside (``.stage1.before_run``) go back in place, and the half-written temporaries
of its atomic writes are deleted (sync4dgs.utils.atomic.remove_stale_temporaries).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from sync4dgs.errors import ConfigError
from sync4dgs.model.folder import LOCK_FILE, RESTORED_FILES, STAGE1_DIR, lock_path
from sync4dgs.utils.atomic import remove_stale_temporaries

log = logging.getLogger(__name__)

MOVED_ASIDE = (STAGE1_DIR,)      # folders a fresh run's setup rebuilds (moved back on failure)
BACKUP_SUFFIX = ".before_run"
HEARTBEAT_S = 30.0               # the holder touches its lock this often
STALE_AFTER_S = 600.0            # another host's lock without a heartbeat for this long is stale
UNLOCK_HINT = "--force_unlock"   # how the CLI takes over a lock anyway


def boot_id() -> str | None:
    """This host's boot id (Linux), which changes at every reboot: a lock of an earlier boot is stale."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # another user's live process
        return True
    return True


class ModelFolderLock:
    """Exclusive use of a model folder by one process (a context manager; see the module docstring).
    ``force``: take over a lock even when its holder may be alive."""

    def __init__(self, model_path: str | Path, force: bool = False):
        self.model_path = Path(model_path)
        self.path = lock_path(self.model_path)
        self.force = force
        self.record = {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": boot_id(),
                       "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "heartbeat_s": HEARTBEAT_S}
        self.held = False
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    def stale_reason(self, holder: dict[str, Any], now: float | None = None) -> str | None:
        """Why the lock ``holder`` (its record) is stale under the module's rule, or None if it is trusted.
        ``now``: the time to judge its heartbeat (the lock file's mtime) against (default: the clock)."""
        pid, host = holder.get("pid"), holder.get("host")
        if host == self.record["host"]:
            theirs = holder.get("boot_id")
            if theirs and self.record["boot_id"] and theirs != self.record["boot_id"]:
                return "taken before this host's last reboot"
            if isinstance(pid, int) and not _pid_alive(pid):
                return "its process is no longer running"
            return None
        try:
            age = (time.time() if now is None else now) - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if age > STALE_AFTER_S:
            return f"no heartbeat from {host} for {age / 60:.0f} min (> {STALE_AFTER_S / 60:.0f} min)"
        return None

    def beat(self) -> None:
        """Refresh the heartbeat (the lock file's modification time), if the lock is still ours."""
        if self.held and self._holder() == self.record:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                pass

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.beat()

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
                self._beater = threading.Thread(target=self._beat_loop, name="train.lock heartbeat", daemon=True)
                self._beater.start()
                return
            holder = self._holder()
            if holder == {}:                      # released between our two calls: try again
                continue
            if holder is None:
                if self.force:
                    log.warning("--force_unlock: removing the unreadable lock %s", self.path)
                    self.path.unlink(missing_ok=True)
                    continue
                raise ConfigError(f"model folder {self.model_path} is locked by an unreadable {LOCK_FILE}; "
                                  f"if no training runs on it, pass {UNLOCK_HINT} (or delete that file)")
            pid, host, started = holder.get("pid"), holder.get("host"), holder.get("started_at")
            why = self.stale_reason(holder)
            if why is not None or self.force:
                log.warning("taking over the %s lock of model folder %s (pid %s on %s, started %s: %s)",
                            "stale" if why else "forced", self.model_path, pid, host, started,
                            why or f"{UNLOCK_HINT} given")
                self.path.unlink(missing_ok=True)
                continue
            other = "" if host == self.record["host"] else (
                f"; a lock from another host counts as stale after {STALE_AFTER_S / 60:.0f} min without a heartbeat")
            raise ConfigError(f"model folder {self.model_path} is in use by another training run (pid {pid} on "
                              f"{host}, started {started}); wait for it, use another --model_path, or, if that "
                              f"run is dead, pass {UNLOCK_HINT}{other}")
        raise ConfigError(f"model folder {self.model_path}: could not take {LOCK_FILE} (another run keeps "
                          "taking it)")

    def release(self) -> None:
        """Stop the heartbeat; remove the lock if it is still ours (a run that took over a stale lock keeps its
        own)."""
        self._stop.set()
        if self._beater is not None:
            self._beater.join()
            self._beater = None
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

    def recover(self) -> list[Path]:
        """Repair what a killed run left (see the module docstring) and take the snapshot again; call it once
        the lock is held. Returns the paths it removed or moved back."""
        fixed: list[Path] = []
        if not self.existed:
            return fixed
        for name in MOVED_ASIDE:
            backup = self.model_path / f".{name}{BACKUP_SUFFIX}"
            if backup.is_dir():                   # a killed run's setup never finished: drop its rebuild
                if (self.model_path / name).exists():
                    shutil.rmtree(self.model_path / name)
                os.replace(backup, self.model_path / name)
                log.warning("restored %s/, moved aside by a training run that was killed during its setup",
                            self.model_path / name)
                fixed.append(backup)
        for stale in remove_stale_temporaries(self.model_path):
            log.warning("removed %s, left over by an interrupted write", stale)
            fixed.append(stale)
        if fixed:
            self.__init__(self.model_path)
        return fixed

    def move_aside(self, name: str) -> None:
        """Rename ``M/name`` (a folder the setup rebuilds, e.g. stage1/) to a hidden backup until commit."""
        p = self.model_path / name
        if p.exists() and name not in self.aside:
            backup = self.model_path / f".{name}{BACKUP_SUFFIX}"
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
