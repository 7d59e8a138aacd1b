"""An example third-party Outpost plugin: ``lineinfile``."""
