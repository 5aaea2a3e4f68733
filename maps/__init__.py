"""folium maps of gridmap's layers; see maps/render.py for how they become HTML (data is never a template)."""

from maps.render import install, render_html

install()

__all__ = ["render_html"]
