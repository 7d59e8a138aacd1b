"""The ``download_content`` plugin (also SSM's ``aws:downloadContent``): a file from the controller."""
