"""vibench_vi (placeholder until implemented)."""
