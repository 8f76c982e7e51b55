"""Small shared utilities (atomic I/O, device resolution and CPU threads, output-folder checks, CLI option spellings,
``geometry``: the one quat_to_rotmat and look_at)."""
