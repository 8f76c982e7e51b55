"""Small shared utilities (atomic I/O, seeding, device resolution)."""
