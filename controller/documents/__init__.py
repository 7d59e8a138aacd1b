"""Documents: the catalogue of SSM command documents, their parameters and rendering."""
