"""Dispatch: commands to signed envelopes on agents' streams under SSM's rate control, and agents'
reports back to stored results."""
