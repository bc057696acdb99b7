"""vibench_pymc (placeholder until implemented)."""
