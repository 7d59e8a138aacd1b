"""Events: live status changes for watchers (per command and fleet-wide) and webhooks."""
