"""The ``patch`` plugin: SSM Patch Manager's scan and install against a patch baseline (docs/patching.md)."""
