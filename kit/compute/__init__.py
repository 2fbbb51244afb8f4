"""Scale-out on Dask: engine selection, lazy datasets and mergeable per-partition summaries (imports nothing heavy)."""
