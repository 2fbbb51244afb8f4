"""Interactive views of the monitoring phase (imported only when the notebook is interactive)."""
from __future__ import annotations

import ipywidgets as widgets
from IPython.display import display

from kit.monitoring import display as views
from kit.monitoring.run import Monitoring


def batch_explorer(result: Monitoring) -> widgets.Widget:
    """Pick a batch and see its drift table (worst features first)."""
    names = [b for b, d in result.drift.items() if not d.empty]
    picker = widgets.Dropdown(options=names, value=names[-1] if names else None, description="Batch")
    out = widgets.Output()

    def show(change: dict | None = None) -> None:
        """Redraw the table for the chosen batch."""
        out.clear_output()
        with out:
            display(views.drift_summary(result, picker.value))

    picker.observe(show, names="value")
    show()
    return widgets.VBox([picker, out])
