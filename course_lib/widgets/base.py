"""What every course widget shares: ipywidgets controls whose value changes call a pure
``render()``, which draws into an Output area and stores its data in ``.result``.

A notebook shows the widget, then sets a control's ``.value`` in the next cell: that runs
the same callback as a slider drag, so nbval exercises it without a browser.
"""

from __future__ import annotations

import ipywidgets as W
from IPython.display import display

MAX_SEED = 2**31 - 1


class ControlsWidget:
    """The wiring every course widget shares: ipywidgets controls whose value changes call
    ``render()``, which draws into ``self.output`` and stores its data in ``self.result``.

    A subclass builds its controls, then calls ``self._wire(controls, rows)``; ``rows`` are
    the boxes shown above the output area. Notebooks drive a widget by setting a control's
    ``.value``, which runs the same callback as a slider drag.
    """

    css_class = "course-widget"  # a stable hook for the browser test (tools/)

    def _wire(self, controls, rows) -> None:
        self.output = W.Output()
        self.result = {}
        for control in controls:
            control.observe(self._on_change, names="value")
        self.widget = W.VBox([*rows, self.output])
        self.widget.add_class(self.css_class)
        self.widget.add_class(f"course-widget-{type(self).__name__}")
        self.render()

    def _on_change(self, _change) -> None:
        self.render()

    def render(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _ipython_display_(self) -> None:
        display(self.widget)
