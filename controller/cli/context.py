"""What every ``outpost`` command is given (click's ``obj``): where the CLI's configuration is, and
the client made from it when a command needs the controller."""
from __future__ import annotations

from pathlib import Path

from controller.runtime.config import CliConfig, default_cli_config_path
from controller.sdk.transport import AdminClient


class Ctx:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path or default_cli_config_path()

    def client(self) -> AdminClient:
        return AdminClient(CliConfig.load(self.config_path))
