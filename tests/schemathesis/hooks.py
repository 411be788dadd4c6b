"""Schemathesis hooks for War Room (loaded through SCHEMATHESIS_HOOKS by tests/schemathesis.rs).

The ingest operations take `application/x-ndjson` as well as JSON. Their NDJSON body is
described with the same schema as the JSON one (one record, or an array of records); this
serialiser writes those records one JSON object per line, as a client would.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    records = value if isinstance(value, list) else [value]
    return "".join(json.dumps(record) + "\n" for record in records).encode("utf-8")
