"""What every PDF report shares: "Page N of M" in the footer, and headings kept with what follows."""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, KeepTogether, Table


def numbered_canvas(footer: str, font: str = "Helvetica"):
    """A canvas class that writes `footer. Page N of M` on every page: pages are held until the
    document ends, when the total is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self.saveState()
                self.setFont(font, 7.5)
                self.drawString(15 * mm, 10 * mm, f"{footer}. Page {self._pageNumber} of {total}")
                self.restoreState()
                super().showPage()
            super().save()

    return NumberedCanvas


def section(heading, body: list, room: float = 40 * mm) -> list:
    """A heading that never ends a page: a new page unless `room` is left (enough for a table's
    header and first rows, which then split across pages as tables do); a heading whose body
    starts with a paragraph is kept on the page of that paragraph."""
    if not body:
        return [CondPageBreak(room), heading]
    if isinstance(body[0], Table):
        return [CondPageBreak(room), heading, *body]
    return [CondPageBreak(room), KeepTogether([heading, body[0]]), *body[1:]]
