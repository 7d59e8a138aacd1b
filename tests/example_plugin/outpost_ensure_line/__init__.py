"""An example third-party Outpost plugin: ``ensure_line``."""
