"""Turning a folium map into HTML without ever running its data as a template.

branca 0.8 and folium 0.20 render each element's Jinja macros and then wrap the *output* in ``Element(output)``,
which compiles that output as a new Jinja template when the page is rendered. Everything an element carries — a
service point's name in its GeoJSON, a tooltip, a popup, a layer name — was thereby Jinja source: a name
``{{7*7}}`` was drawn as ``49``, a name reaching Python through Jinja's globals ran commands on the server, and a
name with ``{#`` broke every map. No escaping of the data can fix that reliably (Jinja has more syntax than
braces), so the second pass itself is removed: `install` makes branca and folium add rendered markup as
`Literal` elements, which render as the text they hold. It runs when the `maps` package is imported, so every
map built with folium in this process is rendered in one pass, whoever calls ``render()`` or ``save()``.

The patched code paths are the ones in branca's ``MacroElement.render`` (every folium layer, control, tooltip
and popup) and the ``Element(rendered)`` calls in folium's ``map`` and ``features`` modules (Popup, the class
include statements, GeoJson tooltip styles, Vega). branca's ``Div`` (unused by folium and gridmap) keeps its
own path. tests/test_map_templates.py renders every gridmap map and folium's popup and tooltip with hostile
text, in Python and in Chromium, so an upgrade of either library that brings the second pass back fails there.
"""

from typing import Any

import branca.element
import folium.features
import folium.map
from branca.element import Element, Figure, MacroElement


class Literal(Element):
    """Markup that is already rendered: rendered as the text it holds, never compiled as a template.

    Without markup it is an ordinary container (folium also uses ``Element()`` for a popup's header, html and
    script parts, which render their children).
    """

    def __init__(self, template: str | None = None, template_name: str | None = None) -> None:
        super().__init__(template_name=template_name)
        self.markup = template

    def render(self, **kwargs: Any) -> str:
        if self.markup is None:
            return super().render(**kwargs)
        return str(self.markup)


def _render_macro_element(self: MacroElement, **kwargs: Any) -> None:
    """``MacroElement.render`` in one pass: each macro's output goes into the page as a `Literal`."""
    figure = self.get_root()
    assert isinstance(figure, Figure), "You cannot render this Element if it is not in a Figure."
    macros = self._template.module.__dict__
    for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
        macro = macros.get(part)
        if macro is not None:
            target.add_child(Literal(macro(self, kwargs)), name=self.get_name())
    for element in self._children.values():
        element.render(**kwargs)


def install() -> None:
    """Remove branca's and folium's second template pass (idempotent)."""
    branca.element.MacroElement.render = _render_macro_element  # type: ignore[method-assign]
    # These modules call Element(<rendered markup>) by their module-level name `Element`.
    folium.map.Element = Literal  # type: ignore[misc]
    folium.features.Element = Literal  # type: ignore[misc]


def is_installed() -> bool:
    """True when maps render in one pass (checked by the tests and before serving a page)."""
    return (
        branca.element.MacroElement.render is _render_macro_element
        and folium.map.Element is Literal
        and folium.features.Element is Literal
    )


def render_html(fmap: folium.Map) -> str:
    """The whole HTML page of `fmap`; refuses to render if the one-pass rendering is not in place."""
    if not is_installed():
        raise RuntimeError("maps.render.install() has not run: folium would evaluate map data as Jinja")
    return fmap.get_root().render()
