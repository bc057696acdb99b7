"""vibench_laplace (placeholder until implemented)."""
