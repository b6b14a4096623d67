import AuditCore
import Foundation
import AuditStore
import Hummingbird

/// SPEC §6.2's query parameters, parsed into a filter, a page size and a cursor.
struct ReadRequest: Sendable {
    static let known: Set<String> = [
        "q", "category", "action", "actor", "target_type", "target_id", "from", "to", "changed", "outcome",
        "late", "limit", "cursor", "tenant", "format", "include",
    ]

    var filter = EventFilter()
    var limit = 50
    var cursor: PageCursor?
    /// `include=categories,pending`: a list answers with the view's category counts and the
    /// tenant's pending setting changes too (the viewer's one request per page load).
    var includeCategories = false
    var includePending = false
    /// `include=count`: how many events match (`total`, capped); `include=late`: which of the
    /// page's events arrived after their hour was sealed (`late`, their ids).
    var includeCount = false
    var includeLate = false
    /// The parameters as given, for recording what a support reader or an exporter looked at.
    var echo: [String: JSONValue] = [:]

    /// The filters a repeated parameter means any value of (SPEC §6.2: like a key repeated in `q`).
    static let repeatable: Set<String> = ["category", "action", "actor", "changed", "outcome"]

    init(_ request: Request) throws {
        var targetType: String?, targetID: String?
        var filterValues: [(String, [String])] = []
        var seen: Set<String> = []
        var q: String?
        for (key, value) in try Self.parameters(request.uri.query ?? "") {
            guard Self.known.contains(key) else { throw Self.unknown(key) }
            guard value.count <= SearchQuery.maxLength else {
                throw Self.bad(key, "is longer than \(SearchQuery.maxLength) characters")
            }
            guard !value.utf8.contains(0), !key.utf8.contains(0) else {
                throw Self.bad(String(key.prefix(64)).replacingOccurrences(of: "\0", with: ""), "contains a NUL character")
            }
            guard Self.repeatable.contains(key) || !seen.contains(key) else {
                throw Self.bad(key, "is given more than once; it takes one value")
            }
            seen.insert(key)
            if key != "cursor" && key != "tenant" {
                echo[key] = Self.repeatable.contains(key) && echo[key] != nil
                    ? .array((echo[key]?.arrayValue ?? [echo[key]!]) + [.string(value)]) : .string(value)
            }
            switch key {
            case "q": q = value
            case "category", "action", "actor", "from", "to", "changed", "outcome", "late":
                if let index = filterValues.firstIndex(where: { $0.0 == key }) {
                    filterValues[index].1.append(value)
                } else {
                    filterValues.append((key, [value]))
                }
            case "target_type": targetType = value
            case "target_id": targetID = value
            case "limit":
                guard let number = Int(value), (1...200).contains(number) else {
                    throw Self.bad("limit", "'limit=\(value.prefix(64))' must be a whole number from 1 to 200")
                }
                limit = number
            case "cursor":
                guard let decoded = PageCursor(encoded: value) else { throw Self.bad("cursor", "is not a cursor from this service") }
                cursor = decoded
            case "include":
                for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                    switch part {
                    case "categories": includeCategories = true
                    case "pending": includePending = true
                    case "count": includeCount = true
                    case "late": includeLate = true
                    default: throw Self.bad("include", "'include=\(value.prefix(64))' takes categories, pending, count and late, comma-separated")
                    }
                }
            default: break
            }
        }
        try Self.convert { () throws(QueryError) in
            for (key, values) in filterValues { try SearchQuery.applyParameter(key, values, to: &filter) }
        }
        // Reversed parameters are a mistake worth naming; a `q` that narrows the window to
        // nothing (after:X -after:X) is a query that matches nothing.
        if let from = filter.from, let to = filter.to, from >= to {
            throw Self.bad("to", "'to=\(Timestamp.format(to))' must be after 'from=\(Timestamp.format(from))'")
        }
        if let q { try Self.convert { () throws(QueryError) in try SearchQuery.apply(q, to: &filter) } }
        switch (targetType, targetID) {
        case let (type?, id?):
            try Self.convert { () throws(QueryError) in
                filter.clauses.append(try SearchQuery.clause("target", "\(type)/\(id)", parameter: "target_type"))
            }
        case (nil, nil): break
        default: throw Self.bad(targetType == nil ? "target_type" : "target_id", "target_type and target_id go together")
        }
    }

    /// The query string's pairs, form-decoded: `+` is a space, `%2B` a plus.
    static func parameters(_ query: String) throws -> [(String, String)] {
        try query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) throws -> String {
                guard let decoded = text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw APIError(.badRequest, code: "invalid_query", message: "The query string is not valid percent-encoding.")
                }
                return decoded
            }
            return (try decode(parts[0]), parts.count > 1 ? try decode(parts[1]) : "")
        }
    }

    /// 400 `unknown_parameter`, the one answer every route gives a parameter it does not take.
    static func unknown(_ key: String) -> APIError {
        APIError(.badRequest, code: "unknown_parameter", message: "Unknown query parameter '\(key.prefix(64))'.",
                 details: [.init(field: String(key.prefix(64)), message: "is not a parameter of this route")])
    }

    /// Refuses the first query parameter not in `allowed` (SPEC §6.2: every route does).
    static func refuseUnknown(_ request: Request, allowing allowed: Set<String> = []) throws {
        if let (key, _) = try parameters(request.uri.query ?? "").first(where: { !allowed.contains($0.0) }) { throw unknown(key) }
    }

    static func convert(_ body: () throws(QueryError) -> Void) throws {
        do { try body() } catch { throw bad(error.parameter, error.message) }
    }

    static func bad(_ parameter: String, _ message: String) -> APIError {
        APIError(.badRequest, code: "invalid_query", message: "\(parameter): \(message)",
                 details: [.init(field: parameter, message: message)])
    }
}
