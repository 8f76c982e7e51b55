"""Which existing folder a command's ``--out`` may replace (the rule that keeps user data safe).

Commands that build an output folder atomically (``prepare``, ``unsync``) replace the folder they are pointed
at. Before they do, :func:`check_output_folder` applies one rule:

* ``--out`` may never be an input folder, nor a folder that contains one (``--out SRC``, ``--out SRC/..``);
* an existing FILE is never replaced (the error says so; the file is untouched);
* an existing folder is replaced only when it is empty or is itself an output of ours (``is_ours``); a
  foreign non-empty folder needs ``overwrite=True`` (``--overwrite``);
* inside an input folder only a new path or an output of ours may be written, ``overwrite`` or not (so
  ``--out SRC/images`` can never delete the dataset's own images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sync4dgs.errors import ConfigError, DataFormatError


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_folder(out: str | Path, is_ours: Callable[[Path], bool], *, inputs: Sequence[str | Path] = (),
                        overwrite: bool = False, what: str = "--out", input_name: str = "dataset folder") -> None:
    """Raise unless ``out`` may be (re)built by a command reading ``inputs``.

    Args:
        out: the output folder about to be replaced atomically.
        is_ours: True for a folder that an earlier run of the command wrote (e.g. it holds our scene.json).
        inputs: the command's input folders (never replaced, never written into unless ``out`` is new or ours).
        overwrite: allow replacing a foreign non-empty folder outside the inputs.
        what: how the option is named in messages; input_name: how the inputs are named.
    Raises:
        ConfigError when ``out`` is an input folder or contains one; DataFormatError (naming ``out``) for an
        existing file, a foreign folder inside an input, or a foreign non-empty folder without ``overwrite``.
    """
    out = Path(out)
    ro = out.resolve()
    for src in inputs:
        rs = Path(src).resolve()
        if _is_within(rs, ro):
            raise ConfigError(f"{what} {out} would replace the {input_name} {src}; choose another output folder")
    if out.is_symlink():
        raise DataFormatError(out, f"{what} is a symbolic link; refusing to replace it (give the real folder)")
    if out.exists() and not out.is_dir():
        raise DataFormatError(out, f"{what} exists and is not a folder; refusing to replace it "
                                   "(choose a folder path)")
    if not out.exists():
        return
    ours = is_ours(out)
    inside = next((Path(src) for src in inputs if _is_within(ro, Path(src).resolve())), None)
    if inside is not None and not ours:
        raise DataFormatError(out, f"{what} is an existing folder inside the {input_name} {inside} and is not "
                                   "an output of sync4dgs; refusing to replace it (choose a new folder)")
    if ours or overwrite or not any(out.iterdir()):
        return
    raise DataFormatError(out, f"{what} is a non-empty folder that sync4dgs did not write; refusing to replace "
                               "it (choose a new folder, or pass --overwrite to replace it)")
