"""Production Readiness Score: checks, evidence, scoring, snapshots."""
