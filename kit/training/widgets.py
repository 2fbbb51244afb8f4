"""Interactive controls of the training phase (imported only when the notebook is interactive)."""
from __future__ import annotations

import html
from typing import Any

import ipywidgets as w


def signoff_form(ctx: Any) -> w.VBox:
    """A small form that records a human sign-off on this run's model version (see ``give_signoff``)."""
    from kit.training.phase import give_signoff

    who = w.Text(placeholder="name and role", description="Approved by")
    why = w.Textarea(placeholder="what was reviewed, and why it may go live", description="Reason")
    button = w.Button(description="Record sign-off", button_style="warning")
    out = w.HTML()

    def on_click(_: Any) -> None:
        """Record the approval and show the resulting status."""
        try:
            result = give_signoff(ctx, who.value, why.value)
            out.value = f"Version {html.escape(str(result['version']))} is now <b>{html.escape(result['status'])}</b>."
        except Exception as exc:  # shown to the user, never swallowed silently
            out.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"

    button.on_click(on_click)
    return w.VBox([w.HTML("<b>Human sign-off</b>"), who, why, button, out])


def show_signoff_form(ctx: Any) -> None:
    """Display the sign-off form in the notebook."""
    from IPython.display import display

    display(signoff_form(ctx))
