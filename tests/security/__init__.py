"""A hostile reviewer's attacks on Outpost (docs/security.md), each against the real controller and
agents of tests/security/rig.py, one module per concern. Every attack asserts three things:

1. it is refused, in one clear line and without a traceback (the CLI's ``error:`` line, a gRPC
   status's details, a failed step's one line of stderr, ``controller serve``'s exit);
2. it is on the audit trail where Outpost audits that kind of event (``outpost audit export``); where
   it does not (a TLS handshake, a message the transport refuses, a controller that does not start),
   what is observable instead: the log line, the status, the missing record;
3. nothing ran and nothing was stored: no command, no file a step would have made, no node, no
   operator, policy, document or activation, no forged byte in the database.
"""
