"""Runs every scheduled function of template.yaml on its schedule, as EventBridge does on
AWS: it invokes the function by name through `cargo lambda watch` with a Scheduled Event.
Started by `make dev` / `make up`; logs one line per invocation. Runs with the moto venv's
python (it has PyYAML). Supports `rate(N minute|minutes|hour|hours|day|days)`, the only
form template.yaml uses; anything else is reported and left unscheduled."""
import datetime, json, os, re, sys, threading, time, urllib.request, uuid
import yaml

UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


class CfnLoader(yaml.SafeLoader):
    pass


# CloudFormation's short tags (!Ref, !Sub, !GetAtt ...) carry nothing a schedule needs.
CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def schedules(template_path):
    with open(template_path) as f:
        template = yaml.load(f, Loader=CfnLoader)
    for name, res in (template.get("Resources") or {}).items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        for event_name, event in ((res.get("Properties") or {}).get("Events") or {}).items():
            props = event.get("Properties") or {}
            if event.get("Type") not in ("Schedule", "ScheduleV2") or props.get("Enabled") is False:
                continue
            expr = props.get("Schedule") or props.get("ScheduleExpression") or ""
            m = re.fullmatch(r"rate\((\d+) (\w+)\)", expr.strip())
            if not m or m.group(2) not in UNITS:
                print(f"scheduler: {name}.{event_name}: {expr!r} is not supported locally; not scheduled", flush=True)
                continue
            yield binary, f"{name}-{event_name}", int(m.group(1)) * UNITS[m.group(2)]


def invoke(watch_url, binary, rule):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
             "account": "123456789012", "time": now, "region": os.environ.get("AWS_REGION", "us-east-1"),
             "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule}"], "detail": {}}
    req = urllib.request.Request(f"{watch_url}/2015-03-31/functions/{binary}/invocations",
                                 data=json.dumps(event).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    started = time.monotonic()
    try:
        # The first call builds the function under cargo lambda watch: allow for it.
        with urllib.request.urlopen(req, timeout=900) as resp:
            body = resp.read().decode(errors="replace")[:300]
            print(f"scheduler: {binary} ({rule}) -> {resp.status} in {time.monotonic() - started:.1f} s: {body}", flush=True)
    except Exception as e:  # keep the schedule going whatever one run did
        print(f"scheduler: {binary} ({rule}) failed after {time.monotonic() - started:.1f} s: {e}", flush=True)


def run(watch_url, binary, rule, every):
    # Like a rate rule, the first run comes one period after the rule is created.
    next_at = time.monotonic() + every
    while True:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += every
        invoke(watch_url, binary, rule)
        next_at = max(next_at, time.monotonic())  # never queue up missed runs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    watch_url = os.environ["WATCH_URL"]
    found = list(schedules(os.path.join(root, "template.yaml")))
    for binary, rule, every in found:
        print(f"scheduler: {binary} every {every} s ({rule}) through {watch_url}", flush=True)
        threading.Thread(target=run, args=(watch_url, binary, rule, every), daemon=True).start()
    if not found:
        print("scheduler: template.yaml has no schedules", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
