"""benchmarks/peers/ex4dgs/apply_patch.py: build.sh's fallback when the machine has no `patch`."""

from __future__ import annotations

import pytest

DIFF = """--- a/src/x.h
+++ b/src/x.h
@@ -1,3 +1,4 @@
 #pragma once
+#include <cstdint>
 #include <vector>
 int f();
"""


def test_applies_once_and_is_idempotent(peer_module, tmp_path):
    ap = peer_module("apply_patch")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.h").write_text("#pragma once\n#include <vector>\nint f();\n")
    (tmp_path / "p.diff").write_text(DIFF)
    assert ap.apply(tmp_path / "p.diff", tmp_path) == ["src/x.h: hunk 0 applied"]
    want = "#pragma once\n#include <cstdint>\n#include <vector>\nint f();\n"
    assert (tmp_path / "src" / "x.h").read_text() == want
    assert ap.apply(tmp_path / "p.diff", tmp_path) == ["src/x.h: hunk 0 already applied"]
    assert (tmp_path / "src" / "x.h").read_text() == want


def test_a_hunk_that_does_not_match_names_the_file(peer_module, tmp_path):
    ap = peer_module("apply_patch")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.h").write_text("#pragma once\nint g();\n")
    (tmp_path / "p.diff").write_text(DIFF)
    with pytest.raises(SystemExit, match=r"x\.h: hunk 0 .* matches 0 places"):
        ap.apply(tmp_path / "p.diff", tmp_path)
