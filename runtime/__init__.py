"""Runtime: the ExecutionEngine wrapper and torch ↔ memref marshalling."""
