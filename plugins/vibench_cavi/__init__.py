"""vibench_cavi (placeholder until implemented)."""
