"""Domain errors. Each carries the offending path (if any) and a human-readable reason."""

from __future__ import annotations

from pathlib import Path


class Sync4DGSError(Exception):
    """Base class of every error the product raises on purpose."""


class DataFormatError(Sync4DGSError):
    """Input data is missing, corrupt or inconsistent.

    Args:
        path: the file or folder at fault (may be None when the problem is not tied to one file).
        reason: what is wrong, in words a user can act on.
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


class ConfigError(Sync4DGSError):
    """A configuration key or value is invalid."""


class DeviceError(ConfigError, ValueError):
    """A requested device is malformed or not present on this machine (also a ValueError, as it was before)."""


class SyncError(Sync4DGSError):
    """Time alignment cannot be performed (e.g. no usable motion)."""


class BackendUnavailableError(Sync4DGSError):
    """A requested rendering backend is not available on this machine/device."""
