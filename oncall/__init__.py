"""oncall: on-call rotations, incidents, readiness scores and RCAs for data-science teams."""

__version__ = "0.1.0"
