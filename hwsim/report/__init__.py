"""Self-contained HTML reports of sweep results."""
