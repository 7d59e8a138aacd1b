"""``outpost ssm ...``: the AWS CLI's ``aws ssm`` Run Command commands, with its argument names and
forms and its answers' shapes, so that ``alias aws-ssm='outpost ssm'`` keeps a script working
(docs/aws-cli.md says what is supported and what is refused, argument by argument).

Errors exit as the AWS CLI v2's do: 252 for a command line or a parameter that is not valid (an
argument Outpost refuses among them), 254 when the controller refused the request, 255 for anything
else (a waiter that ended without success, a controller that cannot be reached)."""
from __future__ import annotations

import click
import grpc

from controller.cli.ssm.args import OTHER_EXIT, SERVICE_EXIT, USAGE_EXIT, ServiceError, WaiterError
from controller.cli.ssm.commands import (
    cancel_command,
    get_command_invocation,
    list_command_invocations,
    list_commands,
    send_command,
    wait,
)
from controller.cli.ssm.document_versions import (
    delete_document,
    list_document_versions,
    update_document_default_version,
)
from controller.cli.ssm.fleet import describe_document, describe_instance_information, list_documents
from controller.cli.terminal import say
from controller.sdk.transport import rpc_error_message
from plugins.sdk.errors import InputError, OutpostError

MAX_ERROR_CHARS = 500


def _line(message: str) -> str:
    text = " ".join(str(message).split("\n"))
    return text if len(text) <= MAX_ERROR_CHARS else f"{text[:250]} ... {text[-250:]}"


class SsmGroup(click.Group):
    """Its commands' errors as the AWS CLI's exit codes (one line on stderr each)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.message = _line(exc.message)
            exc.show()
            raise SystemExit(USAGE_EXIT) from None
        except InputError as exc:
            say(f"error: {_line(str(exc))}", err=True)
            raise SystemExit(USAGE_EXIT) from None
        except ServiceError as exc:
            say(f"error: {_line(str(exc))}", err=True)
            raise SystemExit(SERVICE_EXIT) from None
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "Error"
            say(f"error: An error occurred ({name}) when calling the controller: {_line(rpc_error_message(exc))}",
                err=True)
            raise SystemExit(SERVICE_EXIT) from None
        except (WaiterError, OutpostError) as exc:
            say(f"error: {_line(str(exc))}", err=True)
            raise SystemExit(OTHER_EXIT) from None


@click.group("ssm", cls=SsmGroup)
def ssm() -> None:
    """The AWS CLI's `aws ssm` Run Command commands: its arguments, its JSON (docs/aws-cli.md)."""


for _command in (send_command, list_commands, list_command_invocations, get_command_invocation, cancel_command,
                 describe_instance_information, list_documents, describe_document, wait, list_document_versions,
                 delete_document, update_document_default_version):
    ssm.add_command(_command)
