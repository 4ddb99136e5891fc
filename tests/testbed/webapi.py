"""One JSON request to a halbert-web, for the testbed's scripts (standard library only)."""
import json, urllib.error, urllib.request


def call(base, method, path, body=None, timeout=60):
    """The status and the JSON answer of METHOD BASE+PATH with BODY as JSON (same Origin, as
    the dashboard sends); an error status is returned, not raised."""
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Origin": base})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
