"""Before the contract run (scripts/contract.sh): wakes every function the routes name (its first
request builds it under `cargo lambda watch`), then registers the identities schemathesis acts as, so
that it reaches past 401 and 404:

- a commercial workspace's owner (console token) and its billing account (billing token, username);
- a free workspace's owner (console token), for the upgrade;

and reads the billing items, so that usage records name real ones; and names an Alibaba Cloud account and
two instances for the SPI calls of this run.

Writes, into the run's folder, the dictionaries the config binds path and body parameters to (each used
for part of the generated cases, schemathesis draws the rest) and `env` with the tokens (mode 0600;
never printed). Run with the schemathesis venv's python: python setup.py <base url> <run folder>
"""
import datetime, json, os, sys, time, urllib.error, urllib.request, uuid

import yaml


def call(base, method, path, body=None, timeout=900):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wake(base, openapi):
    """One request to a route of each function; any answer but a 5xx means it is built and running."""
    seen = set()
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            function = op.get("x-function") if isinstance(op, dict) else None
            if function is None or function in seen:
                continue
            seen.add(function)
            started = time.monotonic()
            status, _ = call(base, method.upper(), path.replace("{", "x").replace("}", ""))
            if status >= 500:
                sys.exit(f"contract setup: {function} answered {status} to {method.upper()} {path}")
            print(f"contract setup: {function} up ({status} in {time.monotonic() - started:.1f} s)", flush=True)


def register(base, edition):
    n = uuid.uuid4().int
    name = f"contract{n % 10**12}"
    body = {"edition": edition, "site": "cn1", "username": name, "email": f"{name}@example.com",
            "phone": f"+86{n % 10**11:011d}", "password": "contract-pass-1",
            "workspace": {"name": f"contract {edition}", "language": "en"}}
    if edition == "commercial":
        body.update({"company": {"name": "Contract Co"}, "accept_agreement": True})
    status, answer = call(base, "POST", "/v1/registrations", body)
    if status != 201:
        sys.exit(f"contract setup: registering a {edition} workspace answered {status}: {answer[:300]!r}")
    return json.loads(answer)


def dictionary(folder, name, *values):
    with open(os.path.join(folder, name), "w") as f:
        f.writelines(json.dumps(v) + "\n" for v in values)


def main():
    base, folder = sys.argv[1].rstrip("/"), sys.argv[2]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "openapi.yaml")) as f:
        wake(base, yaml.safe_load(f))
    commercial, free = register(base, "commercial"), register(base, "free")
    dictionary(folder, "workspaces.dict", commercial["workspace"]["id"])
    dictionary(folder, "free-workspaces.dict", free["workspace"]["id"])
    dictionary(folder, "billing-usernames.dict", commercial["billing_account"]["username"])
    now = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    dictionary(folder, "months.dict", now.strftime("%Y-%m"))
    # Usage the handler takes: this hour or the last, an item of the catalogue.
    dictionary(folder, "hours.dict", *(f"{h:%Y-%m-%dT%H:00:00Z}" for h in (now, now - datetime.timedelta(hours=1))))
    status, items = call(base, "GET", "/v1/billing/items")
    if status != 200:
        sys.exit(f"contract setup: GET /v1/billing/items answered {status}")
    dictionary(folder, "items.dict", *(i["id"] for i in json.loads(items)["items"]))
    # Alibaba Cloud instances of this run: the SPI creates, renews and releases them.
    dictionary(folder, "aliyun-accounts.dict", f"{uuid.uuid4().int % 10**16:016d}")
    dictionary(folder, "aliyun-instances.dict", *(f"contract-{uuid.uuid4().hex[:12]}" for _ in range(2)))
    env = os.path.join(folder, "env")
    with open(os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(f"CONTRACT_CONSOLE_TOKEN={commercial['session']['token']}\n")
        f.write(f"CONTRACT_BILLING_TOKEN={commercial['billing_session']['token']}\n")
        f.write(f"CONTRACT_FREE_CONSOLE_TOKEN={free['session']['token']}\n")
    print("contract setup: a commercial and a free workspace registered", flush=True)


if __name__ == "__main__":
    main()
