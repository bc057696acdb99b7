"""vibench_emcee (placeholder until implemented)."""
