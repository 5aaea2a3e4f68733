"""gis.coverage.circles: service-circle polygons on the real Zhuhai network (no database, no timing assertions)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import shapely

from gis.coverage import BUFFER_M, SIMPLIFY_M, service_circle, service_circles
from gis.network import endpoint_distances, snap_points
from tests.gis.test_coverage import service_layer
from tests.gis.test_network import reference_walks, zhuhai, zhuhai_graph

TOLERANCE = 0.5  # metres: reprojection to lon/lat and back


def test_polygon_holds_every_reached_node_and_nothing_beyond_reach() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    services = service_layer().iloc[::3].reset_index(drop=True)  # one in three points, all types
    circles = service_circles(graph, services, profiles={"standard": 1.2}, levels=(5, 10))
    network = circles[circles["kind"] == "network"].to_crs(graph.crs)
    assert len(network) == len(services) * 2 and set(network.geom_type) <= {"Polygon", "MultiPolygon"}
    node_points = shapely.points(graph.node_xy)
    origins = graph.to_metric(services)
    checked = 0
    for i in range(len(services)):
        one = services.iloc[[i]]
        # independent node distances: networkx on the same edges, split at the point's brute-force snap
        _, _, ref_graph, _ = reference_walks(
            extract.edges, extract.nodes, one, np.empty(0, dtype=object), crs=graph.crs
        )
        dist = nx.single_source_dijkstra_path_length(ref_graph, ("S", one["source_id"].iat[0]), weight="weight")
        node_dist = np.array([dist.get(n, np.inf) for n in graph.node_ids])
        for level in (5, 10):
            budget = level * 60 * 1.2
            polygon = network[(network["service_id"] == one["source_id"].iat[0]) & (network["level"] == level)]
            polygon = polygon.geometry.iat[0].buffer(TOLERANCE)
            reached = node_dist <= budget
            assert shapely.contains(polygon, node_points[reached]).all()
            far = shapely.distance(origins[i], node_points) > budget + BUFFER_M + TOLERANCE
            assert not shapely.intersects(polygon, node_points[far]).any()
            checked += reached.sum()
    assert checked > 100


def test_partly_reached_edges_are_cut_at_the_remaining_budget() -> None:
    zhuhai()
    graph = zhuhai_graph()
    row = snap_points(graph, service_layer().iloc[[0]]).iloc[0]
    budget = 300.0
    dist = endpoint_distances(graph, edge=int(row["edge"]), to_u=row["to_u"], to_v=row["to_v"])
    polygon = service_circle(graph, snapped=row, budget_m=budget, simplify_m=0.0)
    rest = budget - row["snap_m"]
    # along every edge leaving a reached node toward an unreached one, the point just past the remaining budget
    # lies outside the polygon unless other reached roads pass within the buffer
    u, v, length = graph.edge_u, graph.edge_v, graph.edge_length
    frontier = np.flatnonzero((dist[u] <= rest) & (dist[v] > rest) & (length > 0))
    reached_area = shapely.union_all(shapely.buffer(shapely.points(graph.node_xy[dist <= rest]), BUFFER_M))
    tested = 0
    for e in frontier:
        cut = (rest - dist[u[e]]) / length[e]
        geom = graph.edge_geometry[e]
        inside = shapely.line_interpolate_point(geom, max(cut - 0.01, 0.0), normalized=True)
        assert polygon.buffer(TOLERANCE).contains(inside)
        beyond = shapely.line_interpolate_point(
            geom, min(cut + (BUFFER_M + 2 * SIMPLIFY_M) / length[e], 1.0), normalized=True
        )
        if cut + (BUFFER_M + 2 * SIMPLIFY_M) / length[e] < 1 and beyond.distance(reached_area) > 2 * BUFFER_M:
            others = polygon.difference(shapely.buffer(geom, BUFFER_M + 1))
            if not others.intersects(beyond):
                assert not polygon.contains(beyond)
                tested += 1
    assert tested > 0


def test_euclidean_reference_ring_and_unreachable_points() -> None:
    zhuhai()
    graph = zhuhai_graph()
    services = service_layer().iloc[[0]].copy()
    circles = service_circles(graph, services, levels=(15,))
    ring = circles[circles["kind"] == "euclidean"].iloc[0]
    assert ring.geometry.geom_type == "LineString" and ring["label"] == "直线1080m (参考)"
    net = circles[circles["kind"] == "network"].to_crs(graph.crs).geometry.iat[0]
    euclid = shapely.Polygon(circles[circles["kind"] == "euclidean"].to_crs(graph.crs).geometry.iat[0].coords)
    assert net.area < euclid.area  # the network shape is smaller than the compass circle
    assert circles.crs.to_epsg() == 4326
    row = snap_points(graph, services).iloc[0]
    assert service_circle(graph, snapped=row, budget_m=row["snap_m"] - 1).is_empty  # cannot even reach the road
