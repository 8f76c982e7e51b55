"""Long-option spelling shared by every command line of sync4dgs (``sync4dgs <command>``, ``python -m sync4dgs.train``).

Long options are spelled with underscores, as in the original 3DGS / Ex4DGS scripts (``--model_path``,
``--skip_train``, ``--time_range``); the hyphenated spelling (``--model-path``, ``--time-range``) is accepted as an
alias of the same option (same ``dest``). :func:`long_option` gives both option strings; :class:`HelpFormatter`
lists only the underscore spelling in ``--help`` (the description says the hyphenated one works too).
"""

from __future__ import annotations

import argparse
import copy
import re
import textwrap
from collections.abc import Iterable

__all__ = ["ALIAS_NOTE", "HelpFormatter", "long_option", "underscore_alias_pairs"]

_WHITESPACE = re.compile(r"\s+")
ALIAS_NOTE = "Options are written with underscores (--model_path); the hyphenated spelling (--model-path) works too."


def long_option(name: str) -> list[str]:
    """``["--a_b", "--a-b"]`` for ``"a_b"`` (or ``"a-b"``, ``"--a_b"``); ``["--name"]`` when there is nothing to
    alias. The underscore spelling comes first, so argparse derives the ``dest`` ``a_b`` from it."""
    base = name.lstrip("-")
    if not base:
        raise ValueError(f"empty option name {name!r}")
    under = base.replace("-", "_")
    hyphen = under.replace("_", "-")
    return [f"--{under}"] if hyphen == under else [f"--{under}", f"--{hyphen}"]


def underscore_alias_pairs(option_strings: Iterable[str]) -> set[str]:
    """The hyphenated aliases among ``option_strings`` (long options whose underscore spelling is also there)."""
    opts = set(option_strings)
    return {s for s in opts if s.startswith("--") and "-" in s[2:] and "--" + s[2:].replace("-", "_") in opts}


class HelpFormatter(argparse.HelpFormatter):
    """Lists each option once, in its underscore spelling (its hyphenated alias is left out of ``--help``), and
    never wraps a line inside a hyphenated word (``--model-path`` stays whole)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(_WHITESPACE.sub(" ", text).strip(), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(_WHITESPACE.sub(" ", text).strip(), width, initial_indent=indent,
                             subsequent_indent=indent, break_on_hyphens=False)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = underscore_alias_pairs(action.option_strings)
        if not hidden:
            return super()._format_action_invocation(action)
        shown = copy.copy(action)
        shown.option_strings = [s for s in action.option_strings if s not in hidden]
        return super()._format_action_invocation(shown)

