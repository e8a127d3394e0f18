"""The catalog: teams, people, rotations, escalation policies, models and routes from oncall.yaml."""
