"""A small stand-in for API Gateway (HTTP API, payload format 2.0) in front of `cargo lambda watch`.

It reads the HTTP routes of template.yaml (`HttpApi` events: method, path, IAM auth, and the function
that serves them), builds for each request the event API Gateway would send, invokes that function by
name through watch's invoke API (`/2015-03-31/functions/<function>/invocations`) and maps the
function's answer back to HTTP, as API Gateway does. So a client (the contract run, `scripts/contract.sh`)
talks HTTP to the deployed routes and nothing else: no `/lambda-url/` shortcut, no route the template
does not deploy.

Where API Gateway answers by itself it does so too: `404 {"message": "Not Found"}` for a method and path
no route matches, `413` over its 10 MB, `500 {"message": "Internal Server Error"}` when the function
fails or answers something that is not a response. One deliberate difference: an IAM route without a
recognised signature is not refused here (API Gateway answers `403 {"message": "Forbidden"}`) but passed
on without an IAM caller, so the handler's own refusal is what gets checked. A request is "signed" when
its `Authorization` is `AWS4-HMAC-SHA256 Credential=<access key id>/...` with an access key id given by
`--iam KEY=ARN` (the stand-in holds no secrets, so the signature itself is not checked); the ARN becomes
`requestContext.authorizer.iam.userArn`.

Run with the moto venv's python (it has PyYAML):
  python scripts/apigw.py [--port 0] [--port-file F] [--iam KEY=ARN ...]   (WATCH_URL from the environment)
"""
import argparse, base64, datetime, json, os, re, signal, sys, threading, time, urllib.error, urllib.parse, urllib.request, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

MAX_BODY = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit
TEXT_TYPES = re.compile(r"^(text/|application/(json|.*\+json|xml|.*\+xml|javascript|x-www-form-urlencoded))", re.I)
DEFAULT_IAM = "LOCALEXPORTER=arn:aws:iam::123456789012:role/cn1-exporter"


class CfnLoader(yaml.SafeLoader):
    pass


# CloudFormation's short tags (!Ref, !Sub, !GetAtt ...) carry nothing a route needs.
CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def routes(template_path):
    """(method, path template, function, iam) of every HttpApi event of the template."""
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    out = []
    for res in (template.get("Resources") or {}).values():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        function = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for event in ((res.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            p = event.get("Properties") or {}
            iam = ((p.get("Auth") or {}).get("Authorizer")) == "AWS_IAM"
            out.append((p.get("Method", "ANY").upper(), p.get("Path", "/$default"), function, iam))
    return out


def match(template, path):
    """Path parameters when `path` fits the route's path (`{name}` one segment, `{name+}` the rest)."""
    ts, xs = template.strip("/").split("/"), path.strip("/").split("/")
    params = {}
    for i, t in enumerate(ts):
        if t.startswith("{") and t.endswith("+}"):
            if i >= len(xs) or not "".join(xs[i:]):
                return None
            params[t[1:-2]] = urllib.parse.unquote("/".join(xs[i:]))
            return params
        if i >= len(xs):
            return None
        if t.startswith("{") and t.endswith("}"):
            if not xs[i]:
                return None
            params[t[1:-1]] = urllib.parse.unquote(xs[i])
        elif t != xs[i]:
            return None
    return params if len(ts) == len(xs) else None


def select(table, method, path):
    """The most specific route: an exact method before ANY, fewer parameters first (API Gateway's order)."""
    found = []
    for m, template, function, iam in table:
        params = match(template, path)
        if params is not None and m in (method, "ANY"):
            found.append((m == "ANY", template.count("{"), template, function, iam, params))
    return min(found, default=None)


def caller(authorization, keys):
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/", authorization or "")
    return keys.get(m.group(1)) if m else None


def event(handler, route, params, body, keys):
    _, _, template, _, iam, _ = route
    raw_path, _, raw_query = handler.path.partition("?")
    headers, cookies = {}, []
    for name, value in handler.headers.items():
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:  # repeated headers reach the function joined by commas
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("x-forwarded-for", handler.client_address[0])
    headers.setdefault("x-forwarded-proto", "http")
    now = datetime.datetime.now(datetime.timezone.utc)
    route_key = f"{handler.command} {template}"
    context = {
        "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", "localhost"),
        "domainPrefix": "local", "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        "http": {"method": handler.command, "path": raw_path, "protocol": handler.request_version,
                 "sourceIp": handler.client_address[0], "userAgent": headers.get("user-agent", "")},
    }
    who = caller(headers.get("authorization"), keys) if iam else None
    if who:
        account = who.split(":")[4]
        context["authorizer"] = {"iam": {"accessKey": "ASIALOCAL", "accountId": account, "callerId": "AROALOCAL:session",
                                         "cognitoIdentity": None, "principalOrgId": None, "userArn": who,
                                         "userId": "AROALOCAL:session"}}
    e = {"version": "2.0", "routeKey": route_key, "rawPath": raw_path, "rawQueryString": raw_query,
         "headers": headers, "requestContext": context, "isBase64Encoded": False}
    if cookies:
        e["cookies"] = cookies
    if raw_query:
        query = {}
        for k, v in urllib.parse.parse_qsl(raw_query, keep_blank_values=True, errors="replace"):
            query[k] = f"{query[k]},{v}" if k in query else v
        e["queryStringParameters"] = query
    if params:
        e["pathParameters"] = params
    if body:  # text as text when its type says text and it is; anything else base64, as API Gateway sends it
        text = None
        if TEXT_TYPES.match(headers.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if text is None:
            e["body"], e["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            e["body"] = text
    return e


def invoke(srv, function, payload):
    """The function's answer, or None when it failed (an error instead of a response)."""
    req = urllib.request.Request(f"{srv.watch_url}/2015-03-31/functions/{function}/invocations",
                                 data=json.dumps(payload).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    # A function's first call builds it under cargo lambda watch: allow for that, and for no more
    # afterwards (API Gateway gives up after 30 s; an answer lost on the way must not hang a client).
    with srv.lock:
        first = function not in srv.started
        srv.started.add(function)
    try:
        with urllib.request.urlopen(req, timeout=900 if first else srv.timeout) as resp:
            if resp.headers.get("x-amz-function-error"):
                return None
            return json.loads(resp.read() or b"null")
    except (urllib.error.URLError, ValueError, OSError) as e:
        print(f"apigw: {function}: invocation failed: {e}", file=sys.stderr, flush=True)
        return None


def http_answer(result):
    """(status, headers, body) from a payload-2.0 answer; API Gateway reads anything without a
    statusCode as a 200 JSON body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        if isinstance(result, dict) and "errorMessage" in result:
            return None
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    try:
        status = int(result["statusCode"])
        headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
        for k, vs in (result.get("multiValueHeaders") or {}).items():
            if not any(h.lower() == k.lower() for h, _ in headers):
                headers += [(k, str(v)) for v in vs]
        headers += [("set-cookie", c) for c in result.get("cookies") or []]
        body = result.get("body") or ""
        body = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
        return status, headers, body
    except (TypeError, ValueError, AttributeError):
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "apigw-standin"

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def message(self, status, text):
        self.answer(status, [("content-type", "application/json")], json.dumps({"message": text}).encode())

    def handle_one(self):
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            return self.message(413, "Request Entity Too Large")
        body = self.rfile.read(length) if length else b""
        srv = self.server
        route = select(srv.table, self.command, urllib.parse.urlsplit(self.path).path)
        if route is None:
            return self.message(404, "Not Found")
        function, params = route[3], route[5]
        started = time.monotonic()
        result = invoke(srv, function, event(self, route, params, body, srv.keys))
        answer = http_answer(result) if result is not None else None
        if answer is None:
            print(f"apigw: {self.command} {self.path[:200]} -> {function}: no response: {str(result)[:300]}",
                  file=sys.stderr, flush=True)
            return self.message(500, "Internal Server Error")
        with srv.lock:
            srv.count += 1
            srv.slowest = max(srv.slowest, time.monotonic() - started)
        self.answer(*answer)

    def __getattr__(self, name):  # every method, named or not, is routed (or not) like API Gateway does
        if name.startswith("do_"):
            return self.handle_one
        raise AttributeError(name)

    def log_message(self, fmt, *args):  # one line per request is noise at thousands of requests
        pass


def stop(*_):  # SIGTERM ends the run like Ctrl-C, so the closing line is printed
    raise KeyboardInterrupt


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--template", default=os.path.join(root, "template.yaml"))
    ap.add_argument("--timeout", type=float, default=60, help="seconds an invocation may take (after a function's first)")
    ap.add_argument("--iam", action="append", help="KEY=ARN: an access key id and the IAM caller it signs as")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.table = routes(args.template)
    srv.watch_url = os.environ["WATCH_URL"].rstrip("/")
    srv.keys = dict(kv.split("=", 1) for kv in (args.iam or [DEFAULT_IAM]))
    srv.lock, srv.count, srv.slowest, srv.started, srv.timeout = threading.Lock(), 0, 0.0, set(), args.timeout
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print(f"apigw: {len(srv.table)} routes of {args.template} on http://127.0.0.1:{port} -> {srv.watch_url}", flush=True)
    signal.signal(signal.SIGTERM, stop)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"apigw: {srv.count} requests answered, slowest {srv.slowest:.2f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
