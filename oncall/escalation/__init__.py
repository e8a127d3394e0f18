"""Escalation policies and the scheduler jobs that fire their steps."""
