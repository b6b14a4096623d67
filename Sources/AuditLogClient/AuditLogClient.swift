import AsyncHTTPClient
import Foundation
import HTTPTypes
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime

/// A client of the auditlog API for a publisher (the vendor's backend), over async-http-client.
///
/// `api` is the client generated from `openapi/auditlog.yaml` (every operation, typed); the
/// methods here are what a publisher mostly wants: send a batch, mint a viewer token, page
/// through a tenant's events. For logging from request handlers, use `AuditLogPublisher`, which
/// buffers, batches and retries without ever making the caller wait.
///
/// An answer other than 2xx is thrown as `AuditLogError` with the server's error code.
public struct AuditLogClient: Sendable {
    /// The generated client: every operation of the document.
    public let api: Client

    /// - Parameters:
    ///   - serverURL: where auditlog listens, e.g. `https://audit.example.com`.
    ///   - apiKey: a publisher key (`alk_…`) from `auditlog keys create`.
    ///   - httpClient: the async-http-client to send with (its shared one by default).
    ///   - timeout: per request.
    public init(serverURL: URL, apiKey: String, httpClient: HTTPClient = .shared, timeout: Duration = .seconds(30)) {
        let seconds = timeout.components.seconds
        let transport = AsyncHTTPClientTransport(configuration: .init(client: httpClient, timeout: .seconds(max(1, seconds))))
        api = Client(serverURL: serverURL,
                     configuration: Configuration(dateTranscoder: .iso8601WithFractionalSeconds, jsonEncodingOptions: [.sortedKeys]),
                     transport: transport,
                     middlewares: [BearerCredential(token: apiKey), ErrorBody()])
    }

    /// Sends `events` as one batch (all or nothing, at most 1000); the ids stored and how many
    /// were already stored (a retry of the same events).
    public func send(_ events: [Components.Schemas.EventInput]) async throws -> Components.Schemas.IngestResult {
        try await Self.unwrapping {
            switch try await api.ingestEvents(body: .json(.EventBatch(.init(events: events)))) {
            case .created(let created): return try created.body.json
            case let other: throw AuditLogError.unexpected("\(other)")
            }
        }
    }

    /// A viewer token for one of `tenant`'s readers, to put in the viewer's link (`/#token=…`).
    public func viewerToken(tenant: String, role: Components.Schemas.ViewerTokenRequest.RolePayload, actorID: String,
                            actorName: String? = nil, ttl: Duration = .seconds(3600)) async throws -> Components.Schemas.ViewerToken {
        try await Self.unwrapping {
            let request = Components.Schemas.ViewerTokenRequest(tenant: tenant, role: role, actorId: actorID, actorName: actorName,
                                                                ttlSeconds: Int(ttl.components.seconds))
            switch try await api.mintViewerToken(body: .json(request)) {
            case .created(let created): return try created.body.json
            case let other: throw AuditLogError.unexpected("\(other)")
            }
        }
    }

    /// Every event of `tenant` that `query` selects, newest first, fetched a page at a time as
    /// the sequence is iterated.
    public func events(tenant: String, query: EventQuery = EventQuery(), pageSize: Int = 200) -> EventSequence {
        EventSequence(client: self, tenant: tenant, query: query, pageSize: max(1, min(200, pageSize)))
    }

    /// One page; `next_cursor` leads to the next.
    func page(tenant: String, query: EventQuery, limit: Int, cursor: String?) async throws -> Components.Schemas.EventPage {
        try await Self.unwrapping {
            let input = Operations.ListEvents.Input.Query(
                tenant: tenant, q: query.search, category: query.categories.isEmpty ? nil : query.categories, action: query.action,
                actor: query.actor, targetType: query.target?.type, targetId: query.target?.id,
                from: query.from.map(Self.format), to: query.to.map(Self.format), limit: limit, cursor: cursor)
            switch try await api.listEvents(query: input) {
            case .ok(let ok): return try ok.body.json
            case let other: throw AuditLogError.unexpected("\(other)")
            }
        }
    }

    static func format(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Runs `body`, throwing what a middleware found (an `AuditLogError`) rather than the
    /// generated client's wrapper around it.
    static func unwrapping<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            return try await body()
        } catch let error as ClientError {
            if let found = error.underlyingError as? AuditLogError { throw found }
            throw AuditLogError(status: 0, code: "transport", message: "\(error.underlyingError)", details: [], retryAfter: nil)
        }
    }
}

/// What to read: the list's filters (SPEC §6.2).
public struct EventQuery: Sendable {
    /// The search language: `actor:u_7 action:client.* "payment method" -sync`.
    public var search: String?
    public var categories: [String] = []
    /// Exact, or a prefix with a trailing `*`.
    public var action: String?
    public var actor: String?
    public var target: (type: String, id: String)?
    public var from: Date?
    public var to: Date?

    public init(search: String? = nil, categories: [String] = [], action: String? = nil, actor: String? = nil,
                target: (type: String, id: String)? = nil, from: Date? = nil, to: Date? = nil) {
        self.search = search
        self.categories = categories
        self.action = action
        self.actor = actor
        self.target = target
        self.from = from
        self.to = to
    }
}

/// A tenant's events across pages: `for try await event in client.events(tenant: "org_42") { … }`.
public struct EventSequence: AsyncSequence, Sendable {
    public typealias Element = Components.Schemas.Event
    let client: AuditLogClient
    let tenant: String
    let query: EventQuery
    let pageSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let sequence: EventSequence
        var buffered: [Components.Schemas.Event] = []
        var cursor: String?
        var finished = false

        public mutating func next() async throws -> Components.Schemas.Event? {
            while buffered.isEmpty {
                guard !finished else { return nil }
                let page = try await sequence.client.page(tenant: sequence.tenant, query: sequence.query, limit: sequence.pageSize, cursor: cursor)
                buffered = page.events.reversed()
                cursor = page.nextCursor
                finished = page.nextCursor == nil
            }
            return buffered.popLast()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(sequence: self)
    }
}

/// An answer other than 2xx: its status, the server's error code (`invalid_events`,
/// `database_unavailable`, …), message and details; `status` 0 when no answer came.
public struct AuditLogError: Error, Sendable, CustomStringConvertible {
    public struct Detail: Sendable, Decodable {
        public var index: Int?
        public var field: String?
        public var message: String
    }

    public var status: Int
    public var code: String
    public var message: String
    public var details: [Detail]
    /// Seconds, from a 503's or 429's `Retry-After`.
    public var retryAfter: Int?

    public var description: String { "\(status) \(code): \(message)" }

    /// Worth sending again unchanged: no answer, too many requests, or the server's own trouble.
    public var isTransient: Bool { status == 0 || status == 408 || status == 429 || status >= 500 }

    static func unexpected(_ what: String) -> AuditLogError {
        AuditLogError(status: 0, code: "unexpected_response", message: what, details: [], retryAfter: nil)
    }
}

/// `Authorization: Bearer <key>` on every request.
struct BearerCredential: ClientMiddleware {
    let token: String

    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// Turns every answer of 400 and above into an `AuditLogError` carrying the server's error body.
struct ErrorBody: ClientMiddleware {
    struct Envelope: Decodable {
        struct Payload: Decodable {
            var code: String
            var message: String
            var details: [AuditLogError.Detail]?
        }
        var error: Payload
    }

    func intercept(_ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        var bytes: Data?
        if let responseBody { bytes = try? await Data(collecting: responseBody, upTo: 1 << 20) }
        let envelope = bytes.flatMap { try? JSONDecoder().decode(Envelope.self, from: $0) }
        throw AuditLogError(status: response.status.code, code: envelope?.error.code ?? "http_\(response.status.code)",
                            message: envelope?.error.message ?? response.status.reasonPhrase, details: envelope?.error.details ?? [],
                            retryAfter: response.headerFields[.retryAfter].flatMap { Int($0) })
    }
}
