"""Phase 1: use-case portfolio scoring, ROI and pilot choice."""
