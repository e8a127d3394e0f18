"""Reliability-incentive metrics over time: trends, digests, plots."""
