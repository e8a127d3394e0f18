"""The catalog: teams, people, rotations, escalation policies, models, routes (oncall.yaml)."""
