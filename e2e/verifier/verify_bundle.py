#!/usr/bin/env python3
"""An independent verifier of auditlog export bundles, from the bundle format in docs/integrity.md alone.

    python3 e2e/verifier/verify_bundle.py BUNDLE [--public-key KEY]... [--since DIGEST]

Exit 0 when intact and fully signed (late arrivals are listed, not failures); 2 with what and
where when something was altered, removed or inserted; 3 when nothing signed was altered but
some events are covered by no signature (named by hour): never read that as intact.
Standard library plus `cryptography` (Ed25519).
"""
import argparse
import base64
import datetime
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HOUR = datetime.timedelta(hours=1)


def canonical(value):
    """Keys sorted by UTF-8 bytes, no whitespace, minimal escapes, integers without a fraction."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        number = float(value)
        if number == int(number) and abs(number) < 2**53:
            return str(int(number))
        return repr(number)
    if isinstance(value, str):
        out = ['"']
        for char in value:
            if char in '"\\':
                out.append("\\" + char)
            elif ord(char) < 0x20:
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, "\\u%04x" % ord(char)))
            else:
                out.append(char)
        out.append('"')
        return "".join(out)
    if isinstance(value, list):
        return "[" + ",".join(canonical(item) for item in value) + "]"
    keys = sorted(value, key=lambda key: key.encode("utf-8"))
    return "{" + ",".join(canonical(key) + ":" + canonical(value[key]) for key in keys) + "}"


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def format_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def hour_of(text):
    return parse_time(text[:13] + ":00:00.000000Z")


def key_id(public_key):
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def signed_text(d):
    if d["format"] == 1:
        fields = [d["tenant"], d["hour"], d["sequence"], d["position"], d["event_count"], d["events_sha256"],
                  d["covered_until"], d["previous_signature"]]
        return "auditlog-digest-v1\n" + "".join("%s\n" % field for field in fields)
    fields = [d["tenant"], d["hour"], d["hour_end"], d["sequence"], d["position"], d["event_count"], d["late_count"],
              d["events_sha256"], d["covered_until"], d["previous_signature"]]
    if d["format"] == 2:
        return "auditlog-digest-v2\n" + "".join("%s\n" % field for field in fields)
    fields += [d["retention_days"], "true" if d["legal_hold"] else "false", d["policy_at"]]
    return "auditlog-digest-v3\n" + "".join("%s\n" % field for field in fields)


def signature_holds(d, keys):
    key = keys.get(d.get("key_id"))
    if key is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(bytes.fromhex(d["signature"]), signed_text(d).encode("utf-8"))
        return True
    except (InvalidSignature, ValueError):
        return False


def hours(d):
    moment, end = parse_time(d["hour"]), parse_time(d["hour_end"])
    while moment < end:
        yield moment
        moment += HOUR


def decode_key(text):
    text = text.strip()
    for decode in (bytes.fromhex, base64.b64decode, lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))):
        try:
            key = decode(text)
            if len(key) == 32:
                return key
        except ValueError:
            pass
    raise SystemExit("--public-key must be 32 bytes in hex or base64")


def verify(path, trusted=None, since=None):
    findings, late = [], []

    def problem(message, hour=None):
        findings.append((hour, message))

    header, keys, link, chain, events, end = None, {}, None, [], [], None
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                kind = item["type"]
            except (ValueError, KeyError, TypeError):
                problem("line %d is not a bundle object" % number)
                continue
            if end is not None:
                problem("line %d follows the end line" % number)
            if kind == "bundle" and number == 1:
                header = item
            elif kind == "key":
                public = bytes.fromhex(item["public_key"])
                if len(public) != 32 or key_id(public) != item["key_id"]:
                    problem("line %d: a key whose id does not match its public key" % number)
                else:
                    keys[item["key_id"]] = public
            elif kind == "link" and not chain and link is None:
                link = item["digest"]
            elif kind == "digest":
                chain.append(item["digest"])
            elif kind == "event":
                events.append(item["event"])
            elif kind == "end":
                end = item["events"]
            else:
                problem("line %d: an unexpected %s line" % (number, kind))
    if header is None or header.get("format") != "auditlog-bundle-v1":
        return [(None, "not an auditlog-bundle-v1 file: its first line is not the bundle header")] + findings, late, {}
    tenant, start, stop = header["tenant"], parse_time(header["from"]), parse_time(header["to"])
    if end is None:
        problem("the bundle is cut short: it has no end line")
    elif end != len(events):
        problem("the end line counts %d events; the bundle holds %d" % (end, len(events)))
    if trusted:
        keys = {key_id(key): key for key in trusted}

    # The chain: consecutive positions from the link, each carrying the one before, each signed.
    previous = ""
    if link is not None:
        if not signature_holds(link, keys):
            problem("the link digest %d's signature does not hold" % link["position"], hour_of(link["hour"]))
        previous = link["signature"]
    position = (link["position"] if link else 0) + 1
    now = datetime.datetime.now(datetime.timezone.utc)
    latest, retained, first_seal, late_counts = {}, set(), {}, {}
    for d in chain:
        hour = hour_of(d["hour"])
        if d["tenant"] != tenant:
            problem("digest %d is of another tenant" % d["position"], hour)
        if d["position"] != position:
            problem("the chain skips from position %d to %d: a digest was removed" % (position - 1, d["position"]), hour)
        position = d["position"] + 1
        if d["previous_signature"] != previous:
            problem("digest %d does not carry the previous digest's signature" % d["position"], hour)
        previous = d["signature"]
        if not signature_holds(d, keys):
            problem("digest %d's signature does not hold under a trusted key" % d["position"], hour)
        if parse_time(d["covered_until"]) > now + datetime.timedelta(minutes=1) or parse_time(d["hour_end"]) > now + 2 * HOUR:
            problem("digest %d claims to cover a time that has not come yet" % d["position"], hour)
        # A checkpoint (covered_until before hour_end) covers its hours so far, but does not seal them.
        checkpoint = d["covered_until"] < d["hour_end"]
        for each in hours(d):
            if not checkpoint:
                first_seal.setdefault(each, d["sealed_at"])
            if d["retention_removed_at"] is None:
                latest[each] = d
            else:
                retained.add(each)
        if not checkpoint and (d["sequence"] > 0 or d["late_count"] > 0):
            late_counts[hour] = d["late_count"]

    # Each "removed by retention" stamp against the policy the chain signed last before it.
    policies = sorted(((parse_time(d["policy_at"]), d) for d in chain if d["format"] >= 3), key=lambda pair: pair[0])
    for d in chain:
        if d["retention_removed_at"] is None:
            continue
        removed = parse_time(d["retention_removed_at"])
        if removed > now + datetime.timedelta(minutes=1):
            problem("digest %d is marked removed by retention at a time that has not come yet" % d["position"], hour_of(d["hour"]))
        before = [p for at, p in policies if at <= removed]
        if not before:
            continue  # stamped before the chain signed its policy: only `auditlog verify` can judge it
        policy = before[-1]
        horizon = removed - datetime.timedelta(days=policy["retention_days"]) + datetime.timedelta(minutes=1)
        if policy["legal_hold"]:
            problem("marked removed by retention at %sZ, while a legal hold was in force (as the chain signed it)" % d["retention_removed_at"][:16], hour_of(d["hour"]))
        elif parse_time(d["hour_end"]) > horizon:
            problem("marked removed by retention at %sZ, but the retention then (%d days) kept this hour (as the chain signed it)" % (
                d["retention_removed_at"][:16], policy["retention_days"]), hour_of(d["hour"]))

    if since is not None:
        held = [d for d in ([link] if link else []) + chain if d["position"] == since["position"]]
        if held and held[0]["signature"] != since["signature"]:
            problem("the chain no longer holds the kept digest %d: history since it was rewritten" % since["position"])
        elif not held and since["position"] > (chain[-1]["position"] if chain else 0):
            problem("the chain ends before the kept digest %d: history since it was truncated" % since["position"])
        elif not held:
            problem("the bundle starts after the kept digest %d" % since["position"])

    # Every hour of the window sealed.
    moment = start
    while moment < stop:
        if moment not in latest and moment not in retained:
            problem("no digest seals this hour", moment)
        moment += HOUR

    # Events: in order, each hash, then each hour against its latest digest.
    by_hour, last_key = {}, None
    for event in events:
        hour = hour_of(event["occurred_at"])
        if event.get("tenant") != tenant:
            problem("event %s is not of tenant %s" % (event.get("id"), tenant), hour)
        if not start <= parse_time(event["occurred_at"]) < stop:
            problem("event %s lies outside the bundle's hours" % event["id"], hour)
        body = {key: value for key, value in event.items() if key != "hash"}
        legacy = sha256_hex(canonical(body))
        body.pop("received_at", None)
        if event["hash"] not in (sha256_hex(canonical(body)), legacy):
            problem("event %s was altered: its content does not match its hash" % event["id"], hour)
        order = (event["occurred_at"], event["id"].encode("utf-8"))
        if last_key is not None and last_key >= order:
            problem("event %s is out of (occurred_at, id) order" % event["id"], hour)
        last_key = order
        by_hour.setdefault(hour, []).append(event)
    pending, unsigned = {}, {}
    for hour, d in sorted(latest.items()):
        if not start <= hour < stop:
            continue
        events_of_hour = by_hour.get(hour, [])
        covered = [e for e in events_of_hour if e["received_at"] < d["covered_until"]]
        if len(events_of_hour) > len(covered):
            pending[hour] = unsigned[hour] = len(events_of_hour) - len(covered)
        if parse_time(d["hour_end"]) > parse_time(d["hour"]) + HOUR:
            if covered:
                problem("%d event(s) inserted outside the normal path (digest %d sealed this hour empty)" % (len(covered), d["position"]), hour)
            continue
        if len(covered) < d["event_count"]:
            problem("%d event(s) removed (digest counts %d, %d remain)" % (d["event_count"] - len(covered), d["event_count"], len(covered)), hour)
        elif len(covered) > d["event_count"]:
            problem("%d event(s) inserted outside the normal path (digest counts %d, %d found)" % (len(covered) - d["event_count"], d["event_count"], len(covered)), hour)
        elif sha256_hex("".join(e["hash"] + "\n" for e in covered)) != d["events_sha256"]:
            problem("an event's hash was changed or the events were reordered: the hour's events no longer match digest %d" % d["position"], hour)
    # Events of hours no digest covers: after the chain's last hour they are not signed yet;
    # before its first, nothing could have sealed them later.
    sealed = set(latest) | retained
    for hour, events_of_hour in by_hour.items():
        if hour in sealed or not start <= hour < stop:
            continue
        if not sealed or hour > max(sealed):
            unsigned[hour] = len(events_of_hour)
        elif hour < min(sealed):
            problem("%d event(s) in an hour before the chain's first digest" % len(events_of_hour), hour)
    for hour in sorted(set(late_counts) | set(pending)):
        count = late_counts.get(hour, 0) + pending.get(hour, 0)
        if count and hour in first_seal and start <= hour < stop:
            late.append("%d event%s arrived for %s:00Z after it was sealed at %sZ" % (
                count, "" if count == 1 else "s", format_time(hour)[:13], first_seal[hour][:16]))
    return findings, late, unsigned


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--public-key", action="append", default=[])
    parser.add_argument("--since")
    args = parser.parse_args()
    since = None
    if args.since:
        try:
            with open(args.since, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            text = args.since
        since = json.loads(text)
        since = since.get("digest", since)
    findings, late, unsigned = verify(args.bundle, [decode_key(key) for key in args.public_key] or None, since)
    findings.sort(key=lambda finding: (finding[0] is not None, finding[0] or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)))
    for hour, message in findings:
        print("TAMPERED " + ("hour %s:00Z: " % format_time(hour)[:13] if hour else "") + message)
    for hour, count in sorted(unsigned.items()):
        print("UNSIGNED hour %s:00Z: %d event(s) not yet covered by any digest" % (format_time(hour)[:13], count))
    for line in late:
        print("LATE " + line)
    if findings:
        print("%s: %d problem(s)." % (args.bundle, len(findings)))
        sys.exit(2)
    if unsigned:
        print("%s: nothing altered among what is signed, but %d event(s) are not yet signed." % (args.bundle, sum(unsigned.values())))
        sys.exit(3)
    print("%s: intact and fully signed." % args.bundle)
    sys.exit(0)


if __name__ == "__main__":
    main()
