"""Slack: the Bolt app, Block Kit builders and message delivery."""
