"""Open311 GeoReport v2 (JSON) for residents' requests: the mapping of services and requests onto the spec's fields
(mapping), the checked arguments of its calls (form), and the partner apps that post with an api_key (partners)."""
