"""Insight: views that read across every domain below (the journal's drill-down today; dashboards, roll-ups
and margin reports as they come). Nothing below imports it."""
