"""The outside world, kept thin: Slack, PagerDuty, Prometheus."""
