"""Ansible's play and task keywords: those Outpost runs, and those it refuses, each with what to do instead."""
from __future__ import annotations

PLAY_KEYS = frozenset({"name", "hosts", "become", "become_user", "become_method", "remote_user", "gather_facts",
                       "vars", "vars_files", "serial", "max_fail_percentage", "any_errors_fatal", "ignore_errors",
                       "environment", "tags", "pre_tasks", "tasks", "post_tasks", "handlers"})
TASK_KEYS = frozenset({"name", "args", "when", "loop", "with_items", "with_list", "loop_control", "register",
                       "changed_when", "failed_when", "notify", "ignore_errors", "tags", "become", "become_user",
                       "vars", "environment", "timeout", "check_mode", "no_log"})
HANDLER_KEYS = TASK_KEYS | {"listen"}
LOOP_CONTROL_KEYS = frozenset({"loop_var", "index_var", "label"})
BECOME_METHODS = frozenset({"sudo", "su", "runuser"})

# Ansible features Outpost does not run, each with what to do instead: refused by name.
REFUSED_PLAY_KEYS = {
    "roles": "roles are not supported yet; put the role's tasks in the play",
    "import_playbook": "import_playbook is not supported; apply each playbook in turn",
    "connection": "Outpost reaches nodes through their agents only; remove `connection`",
    "strategy": "only Ansible's default linear strategy is supported",
    "order": "hosts run in inventory order; remove `order`",
    "collections": "collections are not supported; name modules as ansible.builtin.X or X",
    "gather_subset": "facts come from the agent's report; remove `gather_subset`",
    "module_defaults": "module_defaults is not supported; give the arguments on each task",
    "run_once": "run_once is not supported",
    "throttle": "throttle is not supported; use serial",
    "port": "Outpost reaches nodes through their agents only; remove `port`",
}
REFUSED_TASK_KEYS = {
    "block": "blocks (block/rescue/always) are not supported yet; write the tasks one by one",
    "rescue": "blocks (block/rescue/always) are not supported yet",
    "always": "blocks (block/rescue/always) are not supported yet",
    "include_tasks": "include_tasks is not supported yet; put the tasks in the play",
    "import_tasks": "import_tasks is not supported yet; put the tasks in the play",
    "include_role": "roles are not supported yet", "import_role": "roles are not supported yet",
    "include_vars": "include_vars is not supported; use vars_files",
    "delegate_to": "delegate_to is not supported: a task runs on the play's own hosts",
    "local_action": "local_action is not supported: a task runs on the play's own hosts",
    "run_once": "run_once is not supported",
    "until": "until/retries/delay are not supported yet", "retries": "until/retries/delay are not supported yet",
    "delay": "until/retries/delay are not supported yet",
    "async": "async/poll are not supported: every task runs to its end (use timeout)",
    "poll": "async/poll are not supported: every task runs to its end (use timeout)",
    "with_dict": "with_dict is not supported; use loop: \"{{ d | dict2items }}\"",
    "with_fileglob": "with_fileglob reads the controller's disk; it is not supported",
    "with_nested": "with_nested is not supported; use loop with product",
    "with_sequence": "with_sequence is not supported; use loop: \"{{ range(...) | list }}\"",
    "delegate_facts": "delegate_facts is not supported",
    "any_errors_fatal": "any_errors_fatal is a play keyword here", "debugger": "the debugger is not supported",
}
