"""Reading the dashboard's markup tables (layouts.widgets.table_markup) in tests: cells as text, attributes."""
from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self.current: str | None = None
        self.cell: list[str] | None = None
        self.row: list[str] | None = None
        self.attrs: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.attrs.append(attrs)
        if "id" in attrs and tag == "div":
            self.current = attrs["id"]
            self.tables[self.current] = {"head": [], "rows": [], "text": []}
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        table = self.tables.get(self.current)
        if tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and table is not None and self.row is not None:
            (table["rows"] if table["head"] else table["head"]).extend(
                [self.row] if table["head"] else self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self.current in self.tables:
            self.tables[self.current]["text"].append(data)


def read_tables(markup: str) -> dict[str, dict]:
    """{element id: {"head": [column names], "rows": [[cell text, ...]], "text": all text}} of the tables (and
    "empty" notes) in ``markup``."""
    parser = _Tables()
    parser.feed(markup)
    return {k: v | {"text": " ".join("".join(v["text"]).split())} for k, v in parser.tables.items()}


def column(markup: str, table: str, name: str) -> list[str]:
    t = read_tables(markup)[table]
    return [row[t["head"].index(name)] for row in t["rows"]]


def attributes(markup: str, name: str) -> list[str]:
    """Every value of attribute ``name`` in ``markup``, in order."""
    parser = _Tables()
    parser.feed(markup)
    return [a[name] for a in parser.attrs if name in a]
