"""The fleet: connected agents' sessions, their presence, and target selection."""
