"""The controller process: its configuration, its directory's set-up, its wiring and serving, and its
background jobs."""
