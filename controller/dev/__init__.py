"""For developers: a local cluster of real processes (tests, bench) and `make demo`."""
