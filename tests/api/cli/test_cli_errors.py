"""The command line refuses bad input before doing work, and names features as a person counts them."""

import json
import warnings

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from gis.errors import LayerError
from gis.io import read_layer
from tests.conftest import sample_loaded


def test_coverage_map_refuses_an_unknown_type_before_computing(engine, database_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    with sample_loaded(engine):
        result = CliRunner().invoke(app, ["coverage-map", "--type", "nope"])
        with engine.connect() as conn:
            runs = conn.scalar(text("SELECT count(*) FROM coverage_runs"))
            stored = conn.scalar(text("SELECT count(*) FROM building_coverage"))
    assert result.exit_code == 2 and "'nope'" in result.output and "party_center" in result.output
    assert "Traceback" not in result.output
    assert runs == 0 and stored == 0  # nothing was computed or stored for a request that was refused


def _points(tmp_path, geometries: list) -> str:
    features = [
        {"type": "Feature", "properties": {"id": f"p{k + 1}", "type": "clinic", "name": "站"}, "geometry": g}
        for k, g in enumerate(geometries)
    ]
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def test_bad_coordinates_are_named_without_a_gdal_warning(tmp_path):
    good = {"type": "Point", "coordinates": [113.55, 22.27]}
    path = _points(
        tmp_path,
        [good, {"type": "Point", "coordinates": ["113.5x", 22.2]}, {"type": "Point", "coordinates": [113.5]}],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a raw GDAL RuntimeWarning would fail here
        with pytest.raises(LayerError) as err:
            read_layer(path, kind="service_points", crs="EPSG:4326")
    assert str(err.value) == (
        "points.geojson: feature 2 (id 'p2'): coordinates [\"113.5x\", 22.2] are not numbers; "
        "feature 3 (id 'p3'): coordinates [113.5] need a longitude and a latitude"
    )


def test_features_are_counted_from_one(tmp_path):
    good = {"type": "Point", "coordinates": [113.55, 22.27]}
    path = _points(tmp_path, [good, good, None])
    with pytest.raises(LayerError, match=r"^points.geojson: feature 3 \(id 'p3'\): geometry is missing or empty$"):
        read_layer(path, kind="service_points", crs="EPSG:4326")
