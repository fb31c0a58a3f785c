#!/usr/bin/env python3
"""Third-party Open311 clients from PyPI drive a running Townhall server:

- civicbot's `Open311Client` (JSON): list services, read a definition,
  submit a request (with a multi-value attribute), submit to a token-mode
  service and resolve the token, read the request back;
- georeport's `GeoReport` (JSON and XML, parsed with xmltodict): list
  services, read a definition, search and read the requests back.

Neither client knows it talks to Townhall. Usage:
client.py BASE_URL API_KEY TOKEN_SERVICE_CODE
"""

import sys
import time

from civicbot.http import HttpTransport, RateLimiter
from civicbot.open311 import CONFIRM_TOKEN, Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport

BASE, KEY, TOKEN_SERVICE = sys.argv[1].rstrip("/") + "/open311/v2", sys.argv[2], sys.argv[3]


def check(cond, msg):
    if not cond:
        print("FAIL:", msg, file=sys.stderr)
        sys.exit(1)


def main():
    endpoint = Endpoint(id="townhall", name="Riverbend", base_url=BASE, write=True)
    civic = Open311Client(endpoint, HttpTransport(rate_limiter=RateLimiter(min_interval=0.0)))

    services = civic.list_services()
    codes = {s["service_code"] for s in services}
    check({"pothole", "illegal-dumping", TOKEN_SERVICE} <= codes, f"services: {sorted(codes)}")
    dumping = civic.get_service_definition("illegal-dumping")
    materials = next(a for a in dumping["attributes"] if a["code"] == "MATERIALS")
    check(materials["datatype"] == "multivaluelist", f"definition: {materials}")

    sent = civic.create_request(
        "illegal-dumping",
        dry_run=False,
        confirm=CONFIRM_TOKEN,
        api_key=KEY,
        validate_remote=True,
        lat=39.785,
        lng=-89.655,
        description="Mattress and tires dumped in the alley",
        attributes={"MATERIALS": ["furniture", "tires"]},
        email="resident@example.org",
        first_name="Pat",
        last_name="Example",
    )
    created = sent.response[0]["service_request_id"]
    check(created, f"no id: {sent.response}")
    back = civic.get_request(created)
    check(back["service_code"] == "illegal-dumping" and back["status"] == "open", f"read back: {back}")
    check("Example" not in str(back) and "resident@example.org" not in str(back), f"personal data echoed: {back}")

    tok = civic.create_request(
        TOKEN_SERVICE, dry_run=False, confirm=CONFIRM_TOKEN, api_key=KEY, validate_remote=True,
        address_string="200 Elm St", description="Streetlight flickering all night",
    )
    token = tok.response[0]["token"]
    check(token and not tok.response[0].get("service_request_id"), f"token answer: {tok.response}")
    deadline = time.time() + 30
    while True:
        resolved = civic.get_token(token)[0]
        if resolved.get("service_request_id"):
            break
        check(time.time() < deadline, f"token {token} never resolved")
        time.sleep(0.2)
    via_token = civic.get_request(resolved["service_request_id"])
    check(via_token["service_code"] == TOKEN_SERVICE, f"token request: {via_token}")

    for fmt in ("json", "xml"):
        geo = GeoReport(BASE, output_format=fmt)
        listed = geo.get_service_list()
        check(len(listed) == len(services), f"{fmt}: {len(listed)} services vs {len(services)}")
        defn = geo.get_service_definition("illegal-dumping")
        attrs = defn["attributes"] if fmt == "json" else defn["attributes"]["attribute"]
        attrs = attrs if isinstance(attrs, list) else [attrs]
        check(any(a["code"] == "MATERIALS" for a in attrs), f"{fmt} definition: {defn}")
        one = geo.get_service_request(created)
        check(one["service_request_id"] == created and one["service_code"] == "illegal-dumping", f"{fmt} one: {one}")
        many = geo.get_service_requests(service_request_id=f"{created},{resolved['service_request_id']}")
        many = many if isinstance(many, list) else [many]
        got = sorted(r["service_request_id"] for r in many)
        check(got == sorted([created, resolved["service_request_id"]]), f"{fmt} search by ids: {got}")
        recent = geo.get_service_requests(service_code="illegal-dumping", status="open")
        recent = recent if isinstance(recent, list) else [recent]
        check(any(r["service_request_id"] == created for r in recent), f"{fmt} search: {len(recent)} results")
    print(f"third-party clients: submitted {created}, token {token} -> {resolved['service_request_id']}, read back in JSON and XML: OK")


if __name__ == "__main__":
    main()
