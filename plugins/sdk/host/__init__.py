"""What the processes hosting plugins (controller and agent) share that is not plugin API: plugin
discovery, private files, bound loggers, GC tuning."""
