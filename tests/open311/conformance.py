#!/usr/bin/env python3
"""Open311 conformance of a running Townhall server, every endpoint in both
formats:

- JSON responses are validated against the Open311 project's published
  JSON Schemas (tests/open311/schemas/, copied from schema-georeport-v2);
- XML responses are parsed back, turned into JSON with the specification's
  element names (lists are runs of `service`, `request`, `error`, ...
  elements) and must equal the JSON response of the same call;
- error responses are `[{code, description}]` / `errors/error` with the
  specification's statuses.

Usage: conformance.py BASE_URL API_KEY TOKEN_SERVICE_CODE
Exits non-zero with a message on the first mismatch.
"""

import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

HERE = pathlib.Path(__file__).parent
BASE, KEY, TOKEN_SERVICE = sys.argv[1].rstrip("/") + "/open311/v2", sys.argv[2], sys.argv[3]

# Element names the specification uses for list items, by container.
LISTS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
    "photos": "photo",
    "service_requests_updates": "request_update",
}


def schema_validator(name):
    base = "https://schemas.open311.test/"
    resources = []
    for f in (HERE / "schemas").glob("*.json"):
        contents = json.loads(f.read_text())
        contents.setdefault("$id", base + f.name)
        resources.append((base + f.name, Resource.from_contents(contents, default_specification=DRAFT7)))
    registry = Registry().with_resources(resources)
    schema = registry.contents(base + name)
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


VALIDATORS = {n: schema_validator(n + ".json") for n in ("services", "service-definition", "requests", "request")}


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def call(method, path, params=None, data=None):
    url = BASE + path
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def xml_to_json(el, list_item=None):
    children = list(el)
    if list_item is not None:
        for c in children:
            if c.tag != list_item:
                fail(f"<{el.tag}> holds <{c.tag}>, expected only <{list_item}>")
        return [xml_to_json(c) for c in children]
    if not children:
        if el.tag in LISTS:
            return []
        return el.text if el.text is not None else None
    out = {}
    for c in children:
        if c.tag in out:
            fail(f"<{el.tag}> repeats <{c.tag}>")
        out[c.tag] = xml_to_json(c, LISTS.get(c.tag))
    return out


def same(x, j, where):
    """XML-derived value x equals JSON value j (XML text vs JSON scalars)."""
    if isinstance(j, bool):
        if x != ("true" if j else "false"):
            fail(f"{where}: XML {x!r} != JSON {j!r}")
    elif isinstance(j, (int, float)):
        if x is None or float(x) != float(j):
            fail(f"{where}: XML {x!r} != JSON {j!r}")
    elif j is None:
        if x not in (None, ""):
            fail(f"{where}: XML {x!r} != JSON null")
    elif isinstance(j, str):
        if (x or "") != j:
            fail(f"{where}: XML {x!r} != JSON {j!r}")
    elif isinstance(j, list):
        if not isinstance(x, list) or len(x) != len(j):
            fail(f"{where}: XML list {x!r} != JSON list {j!r}")
        for i, (a, b) in enumerate(zip(x, j)):
            same(a, b, f"{where}[{i}]")
    elif isinstance(j, dict):
        if not isinstance(x, dict) or set(x) != set(j):
            fail(f"{where}: XML keys {sorted(x) if isinstance(x, dict) else x!r} != JSON keys {sorted(j)}")
        for k in j:
            same(x[k], j[k], f"{where}.{k}")
    else:
        fail(f"{where}: unexpected JSON value {j!r}")


def both(method, path, params=None, data=None, root=None, status=200, schema=None):
    """Calls `path` as .json and .xml; checks status, content type, schema
    and XML == JSON. Returns the JSON value."""
    s, ct, body = call(method, f"{path}.json", params, data)
    if s != status:
        fail(f"{method} {path}.json: HTTP {s} (wanted {status}): {body[:300]!r}")
    if not ct.startswith("application/json"):
        fail(f"{path}.json: content type {ct}")
    j = json.loads(body)
    if schema:
        errors = sorted(VALIDATORS[schema].iter_errors(j), key=str)
        if errors:
            fail(f"{path}.json does not validate against {schema}.json: {errors[0].message} at {list(errors[0].absolute_path)}")
    if method == "POST":
        # Each POST creates something: compare shapes only.
        sx, ctx, bx = call(method, f"{path}.xml", params, data)
        if sx != status or "xml" not in ctx:
            fail(f"{method} {path}.xml: HTTP {sx} {ctx}: {bx[:300]!r}")
        x = ET.fromstring(bx)
        if x.tag != root:
            fail(f"{path}.xml: root <{x.tag}>, wanted <{root}>")
        xj = xml_to_json(x, LISTS.get(root))
        if isinstance(j, list):
            if len(xj) != len(j) or any(set(a) != set(b) for a, b in zip(xj, j)):
                fail(f"{path}: XML {xj} and JSON {j} differ in shape")
        return j, xj
    sx, ctx, bx = call(method, f"{path}.xml", params, data)
    if sx != status:
        fail(f"{method} {path}.xml: HTTP {sx} (wanted {status})")
    if not ctx.startswith("text/xml"):
        fail(f"{path}.xml: content type {ctx}")
    x = ET.fromstring(bx)
    if x.tag != root:
        fail(f"{path}.xml: root <{x.tag}>, wanted <{root}>")
    same(xml_to_json(x, LISTS.get(root)), j, path)
    return j


def errors_both(method, path, status, code, params=None, data=None):
    s, ct, body = call(method, f"{path}.json", params, data)
    if s != status:
        fail(f"{method} {path}.json: HTTP {s}, wanted {status}: {body[:300]!r}")
    j = json.loads(body)
    if not (isinstance(j, list) and j and all(set(e) == {"code", "description"} for e in j)):
        fail(f"{path}.json: not an error list: {j}")
    if code not in [e["code"] for e in j]:
        fail(f"{path}.json: codes {[e['code'] for e in j]} lack {code}")
    sx, _, bx = call(method, f"{path}.xml", params, data)
    if sx != status:
        fail(f"{method} {path}.xml: HTTP {sx}, wanted {status}")
    x = ET.fromstring(bx)
    if x.tag != "errors":
        fail(f"{path}.xml: root <{x.tag}>")
    same(xml_to_json(x, "error"), j, path + " (errors)")
    return j


def main():
    d = both("GET", "/discovery", root="discovery")
    if not d["endpoints"] or "text/xml" not in d["endpoints"][0]["formats"]:
        fail(f"discovery lacks endpoints/formats: {d}")

    services = both("GET", "/services", root="services", schema="services")
    if len(services) < 9:
        fail(f"only {len(services)} services")
    types = set()
    for s in services:
        defn = both("GET", f"/services/{urllib.parse.quote(s['service_code'])}", root="service_definition", schema="service-definition")
        if defn["service_code"] != s["service_code"]:
            fail(f"definition of {s['service_code']} names {defn['service_code']}")
        if s["metadata"] != bool(defn["attributes"]):
            fail(f"{s['service_code']}: metadata {s['metadata']} but {len(defn['attributes'])} attributes")
        types |= {a["datatype"] for a in defn["attributes"]}
    print("datatypes seen:", sorted(types))

    reqs = both("GET", "/requests", root="service_requests", schema="requests")
    if len(reqs) < 100:
        fail(f"only {len(reqs)} requests in the default window")
    both("GET", "/requests", {"extensions": "true", "page_size": "20"}, root="service_requests", schema="requests")
    both("GET", "/requests", {"service_code": "pothole,streetlight", "status": "closed"}, root="service_requests", schema="requests")
    one = both("GET", f"/requests/{reqs[0]['service_request_id']}", root="service_requests", schema="requests")
    if len(one) != 1 or one[0] != reqs[0]:
        fail(f"GET one differs from the list's item: {one} vs {reqs[0]}")
    both("GET", f"/requests/{reqs[0]['service_request_id']}", {"extensions": "true"}, root="service_requests", schema="requests")
    both("GET", "/servicerequestupdates", root="service_requests_updates")

    # Submissions, in both formats.
    form = {
        "api_key": KEY,
        "service_code": "illegal-dumping",
        "lat": "39.79",
        "long": "-89.66",
        "description": "Couch and tires dumped behind the library",
        "attribute[MATERIALS][]": ["furniture", "tires"],
        "email": "conformance@example.org",
    }
    j, x = both("POST", "/requests", data=form, root="service_requests", status=201)
    if not j[0].get("service_request_id") or not x[0].get("service_request_id"):
        fail(f"POST answered no id: {j} / {x}")
    for created in (j[0]["service_request_id"], x[0]["service_request_id"]):
        got = both("GET", f"/requests/{created}", root="service_requests", schema="requests")
        if got[0]["service_code"] != "illegal-dumping":
            fail(f"created request reads back as {got}")

    tok, _ = both("POST", "/requests", data={**form, "service_code": TOKEN_SERVICE, "attribute[MATERIALS][]": []},
                  root="service_requests", status=201)
    token = tok[0]["token"]
    deadline = time.time() + 30
    # Wait on the JSON form only (the worker may resolve the token between
    # a JSON and an XML read); compare both formats once it is resolved.
    while True:
        s, _, body = call("GET", f"/tokens/{token}.json")
        if s != 200:
            fail(f"GET /tokens/{token}.json: HTTP {s}: {body[:300]!r}")
        if json.loads(body)[0]["service_request_id"]:
            break
        if time.time() > deadline:
            fail(f"token {token} did not resolve")
        time.sleep(0.2)
    t = both("GET", f"/tokens/{token}", root="service_requests")
    if not t[0]["service_request_id"]:
        fail(f"a resolved token reads back unresolved: {t}")
    both("GET", f"/requests/{t[0]['service_request_id']}", root="service_requests", schema="requests")

    # Errors, in both formats, with the specification's statuses.
    errors_both("GET", "/services/no-such-service", 404, "UNKNOWN_SERVICE")
    errors_both("GET", "/requests/2026-999999", 404, "NOT_FOUND")
    errors_both("GET", "/tokens/nope", 404, "NOT_FOUND")
    errors_both("GET", "/services", 404, "UNKNOWN_JURISDICTION", {"jurisdiction_id": "atlantis"})
    errors_both("GET", "/requests", 400, "INVALID_DATE", {"start_date": "last tuesday"})
    errors_both("POST", "/requests", 403, "API_KEY_REQUIRED", data={"service_code": "pothole"})
    errors_both("POST", "/requests", 403, "INVALID_API_KEY", data={"service_code": "pothole", "api_key": "nope"})
    bad = errors_both("POST", "/requests", 400, "DESCRIPTION_MARKUP",
                      data={"api_key": KEY, "service_code": "pothole", "lat": "95", "long": "-89.6", "description": "<b>x</b>"})
    if len(bad) < 2:
        fail(f"several problems should come back together: {bad}")
    # The jurisdiction may be named; empty counts as absent.
    both("GET", "/services", {"jurisdiction_id": ""}, root="services", schema="services")
    print(f"conformance: {len(services)} services, {len(reqs)} requests, every endpoint in XML and JSON: OK")


if __name__ == "__main__":
    main()
