"""Root-cause analysis documents generated for incidents."""
