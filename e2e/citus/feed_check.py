#!/usr/bin/env python3
"""The feed's guarantee on a cluster, checked from outside (e2e/citus/run): writers send events
(single and in batches, some late and some in the future) to two serve replicas while a follower
reads the feed in small pages from them in turn; afterwards the follower has every acknowledged
event exactly once, and each writer's events in the order they were acknowledged (a writer waits
for each 201 before it sends the next, so its commits are ordered).
    usage: feed_check.py KEY TENANT PORT [PORT...]
Prints one summary line; exit 0 when the guarantee held."""
import base64
import datetime
import json
import sys
import threading
import time
import urllib.request

key, tenant, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
WRITERS, ROUNDS = 6, 25


def call(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read() or b"{}")


acknowledged = {}  # writer -> its requests' ids, in the order their 201s came back
errors = []


def writer(number):
    ids = acknowledged.setdefault(number, [])
    now = datetime.datetime.now(datetime.timezone.utc)
    for round_ in range(ROUNDS):
        size = 1 if round_ % 3 else 5
        events = []
        for item in range(size):
            event_id = f"w{number}-{round_}-{item}"
            # Late (hours ago) and future (a minute ahead) occurred_at: the feed orders by commit, not by time.
            shift = {0: -3 * 3600, 1: 60}.get((round_ + item) % 4, 0)
            at = (now + datetime.timedelta(seconds=shift - round_)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            events.append({"tenant": tenant, "id": event_id, "occurred_at": at, "action": "feed.checked",
                           "actor": {"id": f"writer_{number}"}})
        port = ports[(number + round_) % len(ports)]
        try:
            status, _ = call(port, "POST", "/v1/events", events[0] if size == 1 else {"events": events})
        except Exception as error:  # noqa: BLE001 - any failure is reported
            errors.append(f"writer {number}: {error}")
            return
        if status != 201:
            errors.append(f"writer {number}: status {status}")
            return
        ids.append([event["id"] for event in events])


seen = []
done = threading.Event()


def follow():
    after, turn = "", 0
    while True:
        finishing = done.is_set()
        port = ports[turn % len(ports)]
        turn += 1
        query = f"/v1/events/feed?tenant={tenant}&limit=7" + (f"&after={after}" if after else "")
        try:
            status, page = call(port, "GET", query)
        except Exception as error:  # noqa: BLE001 - any failure is reported
            errors.append(f"follower: {error}")
            return
        if status != 200:
            errors.append(f"follower: status {status}")
            return
        seen.extend(event["id"] for event in page["events"] if event["action"] == "feed.checked")
        after = page["after"]
        if finishing and not page["events"]:
            return  # everything acknowledged before `done` was set has been read
        if not page["events"]:
            time.sleep(0.05)


follower = threading.Thread(target=follow)
follower.start()
threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
done.set()
follower.join()

every = {i for requests in acknowledged.values() for ids in requests for i in ids}
expected = len(every)
duplicates = len(seen) - len(set(seen))
missing = every - set(seen)
unexpected = set(seen) - every
position = {event_id: index for index, event_id in enumerate(seen)}
# A request's events are one commit (ordered within it by occurred_at and id); each of a writer's
# requests must come wholly before its next.
out_of_order = sum(1 for requests in acknowledged.values() for a, b in zip(requests, requests[1:])
                   if all(i in position for i in a + b) and max(position[i] for i in a) > min(position[i] for i in b))
print(f"{WRITERS} writers, {expected} events acknowledged through {len(ports)} replicas; the follower read {len(seen)}: "
      f"{len(missing)} missing, {duplicates} twice, {len(unexpected)} unknown, {out_of_order} requests out of a writer's order"
      + (f"; errors: {errors[:3]}" if errors else ""))
sys.exit(0 if not errors and expected == WRITERS * ROUNDS + WRITERS * 4 * len(range(0, ROUNDS, 3)) and not missing
         and not duplicates and not unexpected and not out_of_order else 1)
