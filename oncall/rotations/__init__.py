"""Rotations: layers, shifts, overrides, swaps, who is on call, iCalendar export."""
