"""Phase 4: drift, performance over time, alerts and retraining."""
