"""Trust: the CA that issues certificates and the key that signs command documents."""
