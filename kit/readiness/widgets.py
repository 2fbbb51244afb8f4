"""Interactive readiness form (ipywidgets): one tab per pillar, live re-scoring, save to YAML.

Imported only when a notebook runs with ``interactive=True``. The callbacks are plain methods,
so tests drive the form by setting widget values, without a browser.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import ipywidgets as w
from IPython.display import clear_output, display

from kit.readiness import content
from kit.readiness.assess import Assessment, assess
from kit.readiness.config import ReadinessSection
from kit.readiness.validate import check_section
from kit.yamlio import dump_yaml

UNANSWERED = 0
"""Value of a question's toggle when it is left unanswered (never scored)."""


def section_yaml(section: ReadinessSection) -> str:
    """A `readiness:` YAML block with every non-default value of a section (for a batch config)."""
    data = section.model_dump(mode="json", exclude_defaults=True)
    return dump_yaml({"readiness": data}, sort_keys=False, allow_unicode=True)


def question_input(qid: str, value: int | None) -> w.ToggleButtons:
    """A 1-5 toggle (plus 'skip') for one question, with the level descriptions as tooltips."""
    row = content.questions().loc[qid]
    tips = ["not answered"] + [str(row.get(f"level_{k}", "")) if f"level_{k}" in row else "" for k in range(1, 6)]
    return w.ToggleButtons(options=[("skip", UNANSWERED)] + [(str(k), k) for k in range(1, 6)],
                           value=value or UNANSWERED, tooltips=tips, style={"button_width": "44px"})


def question_label(qid: str) -> w.HTML:
    """The question text and what answers 1, 3 and 5 look like."""
    row = content.questions().loc[qid]
    scale = " &middot; ".join(f"<b>{k}</b> {html.escape(str(row[f'level_{k}']))}" for k in (1, 3, 5))
    return w.HTML(f"<div><b>{html.escape(row['text'])}</b><br><small>{scale}</small></div>")


class ReadinessForm:
    """Tabbed questionnaire bound to a ReadinessSection; re-scores and redraws on every change."""

    def __init__(self, section: ReadinessSection, save_to: str | Path | None = None,
                 organization: str | None = None, draw: bool = True) -> None:
        """Build the inputs from ``section`` and score it once."""
        self.base = section
        self.save_to = Path(save_to) if save_to else None
        self.organization = organization
        self.draw = draw
        self.question_inputs = {q: question_input(q, section.answers.get(q)) for q in content.questions().index}
        self.flag_inputs = {f: w.Checkbox(value=bool(section.red_flags.get(f, False)),
                                          description=content.red_flags().loc[f, "text"], indent=False,
                                          layout=w.Layout(width="auto"))
                            for f in content.red_flags().index}
        self.capability_inputs = {c: w.Checkbox(value=bool(section.capabilities.get(c, False)),
                                                description=f"L{lvl}: {text}", indent=False,
                                                layout=w.Layout(width="auto"))
                                  for c, (lvl, text) in content.capabilities()[["level", "text"]].iterrows()}
        self.practice_inputs = {p: w.Checkbox(value=bool(section.practices.get(p, False)),
                                              description=f"{test}: {text}", indent=False,
                                              layout=w.Layout(width="auto"))
                                for p, (test, text) in content.practices()[["test", "text"]].iterrows()}
        self.declared_input = w.Dropdown(
            options=[("not declared", None)] + [(content.level_label(lv), lv) for lv in content.levels().index],
            value=section.declared_level, description="Declared level", style={"description_width": "initial"})
        self.team_inputs = {r: w.BoundedIntText(value=int(section.team.get(r, 0)), min=0, max=10_000,
                                                description=name, style={"description_width": "160px"})
                            for r, name in content.roles()["name"].items()}
        self.status = w.HTML()
        self.output = w.Output()
        self.save_button = w.Button(description="Save answers", icon="save", button_style="primary")
        self.save_button.on_click(self.save)
        self.tabs = self._tabs()
        self.widget = w.VBox([self.tabs, self.status, self.save_button, self.output])
        for box in (self.question_inputs, self.flag_inputs, self.capability_inputs, self.team_inputs,
                    self.practice_inputs, {"declared": self.declared_input}):
            for item in box.values():
                item.observe(self.rescore, names="value")
        self.assessment: Assessment | None = None
        self.saved: Path | None = None
        self.rescore()

    def _tabs(self) -> w.Tab:
        """One tab per pillar (questions and red flags) plus one for capabilities."""
        questions, flags = content.questions(), content.red_flags()
        pages = []
        for pillar in content.pillars().index:
            rows = [w.VBox([question_label(q), self.question_inputs[q]])
                    for q in questions.index[questions["pillar"] == pillar]]
            rows.append(w.HTML("<b>Red flags</b> (tick the ones that apply)"))
            rows += [self.flag_inputs[f] for f in flags.index[flags["pillar"] == pillar]]
            pages.append(w.VBox(rows))
        pages.append(w.VBox([w.HTML("<b>Capabilities in place</b> (evidence for the maturity level)")]
                            + list(self.capability_inputs.values())))
        pages.append(w.VBox([w.HTML("<b>Practices done by hand</b> (the manual tests of the ML Test Score: "
                                    "half a point each)")] + list(self.practice_inputs.values())))
        pages.append(w.VBox([w.HTML("<b>Self-assessed level</b> (compared with the evidence)"), self.declared_input,
                             w.HTML("<b>Team headcount</b> (full-time equivalents)"), *self.team_inputs.values()]))
        tabs = w.Tab(children=pages)
        tabs.titles = tuple(content.pillars()["name"]) + ("Capabilities", "Practices", "Level and team")
        return tabs

    def current_section(self) -> ReadinessSection:
        """The base section updated with the values currently set in the form."""
        answers = {q: v.value for q, v in self.question_inputs.items() if v.value != UNANSWERED}
        update: dict[str, Any] = {
            "answers": answers,
            "red_flags": {f: v.value for f, v in self.flag_inputs.items()},
            "capabilities": {c: v.value for c, v in self.capability_inputs.items()},
            "declared_level": self.declared_input.value,
            "team": {r: v.value for r, v in self.team_inputs.items() if v.value or r in self.base.team},
            "practices": {p: v.value for p, v in self.practice_inputs.items() if v.value or p in self.base.practices},
        }
        return self.base.model_copy(update=update)

    def rescore(self, change: Any = None) -> Assessment:
        """Re-score from the form's values, update the status line and redraw the figures."""
        from kit.readiness.display import maturity_ladder, radar_chart

        section = self.current_section()
        self.assessment = assess(section, organization=self.organization)
        problems = check_section(section)
        scores = ", ".join(f"{content.pillars().loc[p, 'name']}: {'-' if s is None else f'{s:g}'}"
                           for p, s in self.assessment.pillars.items())
        note = ("" if not problems else "<br><span style='color:#c0392b'>"
                + "<br>".join(html.escape(p) for p in problems) + "</span>")
        est = self.assessment.maturity
        declared = "" if est.status == "not declared" else f" (declared {est.declared}: {est.status})"
        self.status.value = (f"<b>Level {html.escape(content.level_label(self.assessment.level))}</b>"
                             f"{html.escape(declared)} &middot; {html.escape(scores)}{note}")
        if self.draw:
            with self.output:
                clear_output(wait=True)
                display(radar_chart(self.assessment), maturity_ladder(self.assessment))
        return self.assessment

    def save(self, button: Any = None) -> Path:
        """Write the current answers as a `readiness:` YAML block to ``save_to``."""
        if self.save_to is None:
            raise ValueError("no save_to path given to the form; pass save_to=... to readiness_form")
        self.save_to.parent.mkdir(parents=True, exist_ok=True)
        self.save_to.write_text(section_yaml(self.current_section()), encoding="utf-8")
        self.saved = self.save_to
        self.status.value += f"<br>Saved to {html.escape(str(self.save_to))}"
        return self.save_to

    def _ipython_display_(self) -> None:
        """Show the form in a notebook."""
        display(self.widget)


def readiness_form(section: ReadinessSection, save_to: str | Path | None = None,
                   organization: str | None = None) -> ReadinessForm:
    """Build the interactive readiness form for a config section."""
    return ReadinessForm(section, save_to=save_to, organization=organization)
