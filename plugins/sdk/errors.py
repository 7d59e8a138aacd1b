"""One exception tree for all of Outpost. Raise these; only the CLI entry maps them to exit codes
and only the runner maps them to statuses."""
from __future__ import annotations


class OutpostError(Exception):
    """Root of every error Outpost raises on purpose."""


class InputError(OutpostError):
    """A value does not fit its declared schema. ``where`` names the place, e.g. ``tasks[2].shell``."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class DocumentError(OutpostError):
    """A command document is malformed or names something unknown."""


class VerificationError(OutpostError):
    """A command was refused before anything ran. ``code`` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


class PluginError(OutpostError):
    """A plugin could not be loaded or is not usable here, or a step failed for a reason its plugin
    explains. A step's timeout and an operator's cancel are not exceptions of this tree: the runner
    cancels the plugin's coroutine (asyncio's CancelledError) and maps that to the status itself."""


class IdentityError(OutpostError):
    """A certificate does not carry a valid Outpost identity."""


class ConfigError(OutpostError):
    """A configuration file or state directory is missing or wrong."""
