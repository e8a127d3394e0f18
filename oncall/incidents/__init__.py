"""Incidents: Alertmanager alerts, routing, deduplication, lifecycle and timeline."""
