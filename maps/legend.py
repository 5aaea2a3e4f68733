"""The legend control every gridmap map uses, and the page CSS it carries (labels, legend)."""

from branca.element import MacroElement
from folium.template import Template

PAGE_STYLE = """
<style>
  .leaflet-container { font-family: "Helvetica Neue", Arial, "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
    "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; }
  .gridmap-grid-code { background: transparent; border: none; box-shadow: none; padding: 0;
    font-weight: 600; font-size: 11px; color: #1f4e99; text-shadow: 0 0 2px #fff, 0 0 2px #fff; }
  .gridmap-site-rank { background: transparent; border: none; box-shadow: none; padding: 0;
    font-weight: 700; font-size: 11px; color: #111; }
  .gridmap-site-rank::before { display: none; }
  .gridmap-legend { background: rgba(255, 255, 255, 0.9); padding: 6px 8px; border-radius: 4px;
    font-size: 12px; line-height: 1.5; box-shadow: 0 1px 4px rgba(0, 0, 0, 0.3); }
  .gridmap-legend i { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
    margin-right: 6px; vertical-align: -1px; border: 1px solid #fff; }
  .gridmap-legend .gridmap-sub { color: #555; }
</style>
"""


class HtmlLegend(MacroElement):
    """A bottom-right control showing `html` (built escaped by the caller). It also carries the page's CSS (grid
    code and site rank labels, legend) and any map-specific `style`, so it is added even when `html` is empty."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}"""
        + PAGE_STYLE
        + """{{ this.style }}{% endmacro %}
        {% macro script(this, kwargs) %}{% if this.html %}
            (function() {
                var legend = L.control({position: 'bottomright'});
                legend.onAdd = function() {
                    var div = L.DomUtil.create('div', 'gridmap-legend');
                    div.innerHTML = {{ this.html|tojson }};
                    return div;
                };
                legend.addTo({{ this._parent.get_name() }});
            })();
        {% endif %}{% endmacro %}
        """
    )

    def __init__(self, html: str, style: str = "") -> None:
        super().__init__()
        self._name = "Legend"
        self.html = html
        self.style = style
