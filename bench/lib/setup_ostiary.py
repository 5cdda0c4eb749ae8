#!/usr/bin/env python3
"""Register the benchmark's apps in a fresh Ostiary through its Graph-shaped API (stdlib only).

usage: setup_ostiary.py BASE BOOTSTRAP_JSON CA_PEM > setup.json

Creates a client app with a password, two resource apps (one default RS256, one with the
Ostiary extension "api": {"accessTokenSigningAlgorithm": "ES256"}), service principals and
app-role assignments, then fetches one token per resource with HTTP Basic (as wrk will) and
reports the JWT alg actually used. Prints JSON:
  {"tenantId", "clientId", "clientSecret",
   "resources": {"RS256": {"appId", "scope", "tokenAlg"}, "ES256": {...}}}
"""

import base64
import json
import os
import secrets
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

TIMEOUT = 30


def main() -> int:
    base, bootstrap_path, ca = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    boot = json.load(open(bootstrap_path))
    tls = ssl.create_default_context(cafile=ca)
    tenant = boot["tenantId"]
    token_url = f"{base}/{tenant}/oauth2/v2.0/token"

    def request(method, url, body=None, headers=None, form=False):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                hdrs["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=tls, timeout=TIMEOUT) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            raise SystemExit(f"{method} {url}: HTTP {e.code}: {raw[:1000]!r}") from None

    status, tok = request(
        "POST",
        token_url,
        {
            "grant_type": "client_credentials",
            "client_id": boot["clientId"],
            "client_secret": boot["clientSecret"],
            "scope": "https://graph.microsoft.com/.default",
        },
        form=True,
    )
    auth = {"Authorization": f"Bearer {tok['access_token']}"}

    def graph(method, path, body=None, expect=(200, 201, 204)):
        status, out = request(method, f"{base}/v1.0{path}", body, auth)
        if status not in expect:
            raise SystemExit(f"{method} /v1.0{path}: unexpected HTTP {status}: {out}")
        return out

    suffix = secrets.token_hex(4)
    client = graph("POST", "/applications", {"displayName": f"Bench Client {suffix}"})
    password = graph(
        "POST", f"/applications/{client['id']}/addPassword", {"passwordCredential": {"displayName": "bench"}}
    )
    client_sp = graph("POST", "/servicePrincipals", {"appId": client["appId"]})

    resources = {}
    for alg in ("RS256", "ES256"):
        role_id = str(uuid.uuid4())
        uri = f"api://bench-{alg.lower()}-{suffix}"
        body = {
            "displayName": f"Bench API {alg}",
            "identifierUris": [uri],
            "appRoles": [
                {
                    "id": role_id,
                    "value": "Bench.Read",
                    "displayName": "Bench read",
                    "description": "Benchmark role",
                    "allowedMemberTypes": ["Application"],
                    "isEnabled": True,
                }
            ],
        }
        if alg != "RS256":
            body["api"] = {"accessTokenSigningAlgorithm": alg}
        app = graph("POST", "/applications", body)
        sp = graph("POST", "/servicePrincipals", {"appId": app["appId"]})
        graph(
            "POST",
            f"/servicePrincipals/{sp['id']}/appRoleAssignedTo",
            {"principalId": client_sp["id"], "resourceId": sp["id"], "appRoleId": role_id},
        )
        resources[alg] = {"appId": app["appId"], "scope": f"{uri}/.default"}

    # BENCH_CA_POLICIES=N: N Conditional Access policies of realistic variety (workload-identity
    # policies naming other service principals, user policies on other apps, report-only and disabled
    # ones), none of which blocks the bench client: the cost of evaluating them on every request.
    n_policies = int(os.environ.get("BENCH_CA_POLICIES", "0"))
    for i in range(n_policies):
        kind = i % 4
        state = ("enabled", "enabled", "enabledForReportingButNotEnforced", "disabled")[i % 4]
        if kind == 0:
            conditions = {
                "users": {"includeUsers": ["None"]},
                "applications": {"includeApplications": ["All"]},
                "clientApplications": {"includeServicePrincipals": [str(uuid.uuid4()) for _ in range(3)]},
            }
            grant = {"operator": "OR", "builtInControls": ["block"]}
        elif kind == 1:
            conditions = {
                "users": {"includeUsers": ["None"]},
                "applications": {"includeApplications": ["All"]},
                "clientApplications": {
                    "includeServicePrincipals": ["ServicePrincipalsInMyTenant"],
                    "excludeServicePrincipals": [client_sp["id"]],
                },
            }
            grant = {"operator": "OR", "builtInControls": ["block"]}
        else:
            conditions = {
                "users": {"includeUsers": ["All"], "excludeGroups": [str(uuid.uuid4())]},
                "applications": {"includeApplications": [str(uuid.uuid4()) for _ in range(2)]},
                "platforms": {"includePlatforms": ["all"], "excludePlatforms": ["iOS"]},
                "signInRiskLevels": ["high"] if i % 3 == 0 else [],
            }
            grant = {"operator": "OR", "builtInControls": ["mfa"]}
        graph(
            "POST",
            "/identity/conditionalAccess/policies",
            {"displayName": f"Bench policy {i}", "state": state, "conditions": conditions, "grantControls": grant},
        )

    # One request per resource exactly as wrk will send it (Basic auth, form-encoded credentials).
    basic = base64.b64encode(
        f"{urllib.parse.quote(client['appId'], safe='')}:{urllib.parse.quote(password['secretText'], safe='')}".encode()
    ).decode()
    for alg, res in resources.items():
        status, out = request(
            "POST",
            token_url,
            {"grant_type": "client_credentials", "scope": res["scope"]},
            {"Authorization": f"Basic {basic}"},
            form=True,
        )
        header = json.loads(base64.urlsafe_b64decode(out["access_token"].split(".")[0] + "=="))
        res["tokenAlg"] = header.get("alg")
        if res["tokenAlg"] != alg:
            print(f"warning: resource {alg} got a {res['tokenAlg']} token", file=sys.stderr)

    json.dump(
        {
            "tenantId": tenant,
            "clientId": client["appId"],
            "clientSecret": password["secretText"],
            "basic": basic,
            "resources": resources,
        },
        sys.stdout,
        indent=2,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
