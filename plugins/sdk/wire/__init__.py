"""What crosses the wire between controller and agent: the document, the signed envelope and its batch
proof, results, identities, and their protobuf conversion."""
