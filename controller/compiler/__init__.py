"""The playbook compiler: an Ansible-style YAML playbook to a typed plan of command documents.

    plan = compile_playbook("site.yml", PluginRegistry.discover(), parse_extra_vars(["env=prod"]))
    for play in plan.plays:
        play.targets, play.document  # what to sign and send, and to whom

Every error is a :class:`PlaybookError` whose message reads ``site.yml:14: tasks[2].shell: ...``.
"""
from controller.compiler.errors import PlaybookError, TemplateError
from controller.compiler.playbook import Plan, PlayPlan, compile_playbook, compile_text, parse_extra_vars

__all__ = ["Plan", "PlayPlan", "PlaybookError", "TemplateError", "compile_playbook", "compile_text",
           "parse_extra_vars"]
