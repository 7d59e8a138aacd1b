"""The shared kernel of Outpost: what the controller, the agent and every plugin agree on.

It depends on the standard library and ``outpost.v1`` only (plus ``cryptography`` for
signature verification); it never imports ``controller``, ``agent`` or a plugin.
"""
