"""Tabs of an ops section (marketing, risk control): each page of the section registers its tab with
`tabs.register(endpoint, label)` and the section's pages show `tabs.visible()`. A tab shows only when its
endpoint exists, so a link is never broken, whichever module registers first."""

from flask import current_app


class Tabs(list):
    """(endpoint, label) pairs, in the order they were registered."""

    def register(self, endpoint: str, label) -> None:
        if endpoint not in {e for e, _ in self}:
            self.append((endpoint, label))

    def visible(self) -> list[tuple[str, object]]:
        return [(e, label) for e, label in self if e in current_app.view_functions]
