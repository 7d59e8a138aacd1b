"""`outpost swarm`: many protocol-complete agents in one process, for load and fault testing."""
