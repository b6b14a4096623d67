import AuditCore
import AuditStore
import Foundation
import NIOHTTP1

/// Each stream kind's request: the body and headers one batch goes out with.
extension StreamDelivery {
    /// The body and headers of one batch. A webhook is signed as Standard Webhooks specifies:
    /// `webhook-id` (the same for every retry of a batch: derived from the position it starts
    /// at), `webhook-timestamp`, and `webhook-signature` = `v1,` + base64 of HMAC-SHA256 with the
    /// secret's key over `id.timestamp.body`.
    static func request(for events: [JSONValue], of stream: StreamRecord, position: String, now: Date) -> ([UInt8], HTTPHeaders) {
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: "auditlog-streams/1")
        switch stream.kind {
        case .webhook:
            let body = Array(JSONValue.object([
                "stream": .string(stream.id), "scope": .string(stream.scope.name),
                "tenant": stream.scope.tenant.map { .string($0.rawValue) } ?? .null, "events": .array(events),
            ]).canonicalText.utf8)
            let messageID = "msg_" + Crypto.hex(Crypto.sha256(Array("\(label(stream.scope, stream.id))/\(position)".utf8)).prefix(16))
            let timestamp = String(Int(now.timeIntervalSince1970))
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "webhook-id", value: messageID)
            headers.add(name: "webhook-timestamp", value: timestamp)
            headers.add(name: "webhook-signature", value: "v1," + signature(secret: stream.secret ?? "", id: messageID, timestamp: timestamp, body: body))
            return (body, headers)
        case .splunkHEC:
            // HEC's event endpoint takes one JSON object per event, concatenated.
            var body: [UInt8] = []
            for event in events {
                let time = event.objectValue?["occurred_at"]?.stringValue.flatMap(Timestamp.parse)?.timeIntervalSince1970 ?? now.timeIntervalSince1970
                body += Array(JSONValue.object([
                    "time": .number((time * 1000).rounded() / 1000), "host": "auditlog", "source": "auditlog",
                    "sourcetype": "auditlog:event", "event": event,
                ]).canonicalText.utf8)
                body.append(UInt8(ascii: "\n"))
            }
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Authorization", value: "Splunk \(stream.token ?? "")")
            return (body, headers)
        case .datadog:
            // The logs intake takes an array of log objects; the event rides in `audit`.
            let logs = events.map { event -> JSONValue in
                let object = event.objectValue ?? [:]
                let tags = ["tenant:\(object["tenant"]?.stringValue ?? "")", "category:\(object["category"]?.stringValue ?? "")", "action:\(object["action"]?.stringValue ?? "")"]
                return .object(["ddsource": "auditlog", "service": "auditlog", "hostname": "auditlog",
                                "ddtags": .string(tags.joined(separator: ",")), "message": object["message"] ?? .string(""), "audit": event])
            }
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "DD-API-KEY", value: stream.token ?? "")
            return (Array(JSONValue.array(logs).canonicalText.utf8), headers)
        }
    }

    /// A stream's name in logs and metrics: `tenant/str_…`, or `*/str_…` for a vendor-wide stream.
    static func label(_ scope: StreamScope, _ id: String) -> String {
        "\(scope.tenant?.rawValue ?? "*")/\(id)"
    }

    public static func signature(secret: String, id: String, timestamp: String, body: [UInt8]) -> String {
        let key = secret.hasPrefix("whsec_") ? Data(base64Encoded: String(secret.dropFirst(6))).map { [UInt8]($0) } ?? Array(secret.utf8) : Array(secret.utf8)
        return Data(Crypto.hmacSHA256(key: key, message: Array("\(id).\(timestamp).".utf8) + body)).base64EncodedString()
    }
}
