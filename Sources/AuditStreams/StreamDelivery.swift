import AsyncHTTPClient
import AuditCore
import AuditStore
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Delivers every tenant's log streams (SPEC §6, issue 16), as a service of `serve`.
///
/// Each tick (a second, sooner when this process commits events, at once while a stream has a
/// backlog beyond one round's pages) it takes the lease of the streams no other replica holds
/// (`audit.claim_streams`, 30 s, renewed every tick), and for each
/// sends the feed after the stream's position in batches: the position moves only once the
/// destination answered 2xx, so every event is delivered at least once, in the feed's commit
/// order, and a replica that dies hands its streams to another within a lease. A failed batch is
/// sent again, the same, after an exponential backoff with jitter (at least `Retry-After`); a
/// stream failing longer than `failingAfter` is marked `failing` and keeps its place and its
/// retries. A paused stream is not claimed; resumed, it goes on from its position.
public final class StreamDelivery: Service, Sendable {
    public struct Configuration: Sendable {
        /// Events per request at most (`AUDITLOG_STREAM_BATCH`).
        public var batchSize = 500
        /// How long a partial batch may wait for more events before it is sent
        /// (`AUDITLOG_STREAM_LINGER`, ms; 0 sends at once).
        public var linger: Duration = .zero
        public var tick: Duration = .seconds(1)
        public var leaseSeconds = 30
        public var requestTimeout: Duration = .seconds(10)
        public var initialBackoff: Duration = .seconds(1)
        public var maxBackoff: Duration = .seconds(300)
        /// A stream failing this long is marked `failing` (`AUDITLOG_STREAM_FAILING_AFTER`, default 24 h).
        public var failingAfter: Duration = .seconds(86_400)
        /// Pages sent per stream per tick, so one busy stream does not hold up the others' turns.
        public var pagesPerTick = 20
        /// How often every stream's status is read for /metrics.
        public var statusInterval: Duration = .seconds(10)

        public init() {}
    }

    let database: AuditDatabase
    /// `AUDITLOG_STREAM_ALLOW_HOSTS`: destinations allowed despite the private-address rules.
    let allowHosts: DestinationAllowList
    let configuration: Configuration
    let owner: String
    let http: HTTPClient
    let logger: Logger
    /// Per stream: failures in a row, and when the next attempt may be made.
    let backoff = Mutex<[String: (failures: Int, notBefore: ContinuousClock.Instant)]>([:])
    let stopping = Mutex(false)
    let delivered = Counter(label: "auditlog_stream_events_delivered_total")
    /// Per stream, its gauges: `auditlog_stream_status{stream, status}` (1 for the stream's
    /// status, 0 for the others) and `auditlog_stream_lag_seconds{stream}` (under "lag"); and
    /// when the statuses were last read.
    let statusGauges = Mutex<(read: ContinuousClock.Instant?, gauges: [String: [String: Gauge]])>((nil, [:]))
    let failures = Counter(label: "auditlog_stream_delivery_failures_total")

    public init(database: AuditDatabase, allowHosts: DestinationAllowList, configuration: Configuration = Configuration(), owner: String? = nil,
                http: HTTPClient = StreamDelivery.client, logger: Logger = Logger(label: "auditlog.streams")) {
        self.database = database
        self.allowHosts = allowHosts
        self.configuration = configuration
        self.owner = owner ?? "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8))"
        self.http = http
        self.logger = logger
    }

    /// The client deliveries go out on: it follows no redirect (a 3xx is a failed delivery), so a
    /// destination cannot send a delivery on to an address `DestinationGuard` never checked. It
    /// lives as long as the process, as `HTTPClient.shared` does.
    public static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return configuration
    }())

    public func run() async throws {
        // The round in progress, cancelled on graceful shutdown: a delivery waiting on a slow or
        // unreachable destination must not hold up the deploy (its batch is sent again later).
        let round = Mutex<Task<Bool, Never>?>(nil)
        await withGracefulShutdownHandler {
            while !Task.isCancelled, !stopping.withLock({ $0 }) {
                let generation = database.commits.generation
                let task = Task { await self.tickOnce() }
                round.withLock { $0 = task }
                if stopping.withLock({ $0 }) { task.cancel() }
                // A stream with more to send (a backfill, a backlog after an outage) goes on at
                // once; otherwise the next round waits for a commit or the tick.
                if await task.value { continue }
                await database.commits.wait(after: generation, timeout: configuration.tick)
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            round.withLock { $0?.cancel() }
        }
    }

    /// One round: claim, then deliver each claimed stream (concurrently, each in order).
    /// True when a stream stopped at its pages-per-round with more to send.
    @discardableResult
    public func tickOnce() async -> Bool {
        await refreshStatusesIfDue()
        let claimed: [(scope: StreamScope, id: String)]
        do {
            claimed = try await database.claimStreams(owner: owner, leaseSeconds: configuration.leaseSeconds)
        } catch {
            logger.warning("could not claim streams", metadata: ["error": "\(error)"])
            return false
        }
        return await withTaskGroup(of: Bool.self) { group in
            for stream in claimed {
                group.addTask { await self.deliver(stream.id, scope: stream.scope) }
            }
            return await group.reduce(false) { $0 || $1 }
        }
    }

    /// Sends up to `pagesPerTick` pages of one stream; true when it stopped with more to send.
    func deliver(_ id: String, scope: StreamScope) async -> Bool {
        let key = Self.label(scope, id)
        if let wait = backoff.withLock({ $0[key] }), ContinuousClock.now < wait.notBefore { return false }
        let database = database
        for _ in 0..<configuration.pagesPerTick {
            if stopping.withLock({ $0 }) { return false }
            do {
                guard let stream = try await database.leasedStream(id: id, scope: scope, owner: owner) else { return false }
                let token = FeedToken(encoded: stream.position) ?? .start
                let page = try await database.streamFeed(after: token, limit: configuration.batchSize, scope: scope, id: id)
                let all = page.events()  // parsed once: for the filter and for the lag
                let events = all.filter { event in
                    stream.accepts(category: event.objectValue?["category"]?.stringValue ?? "", action: event.objectValue?["action"]?.stringValue ?? "")
                }
                if !events.isEmpty, configuration.batchSize > events.count, configuration.linger > .zero,
                   let first = events.first?.objectValue?["received_at"]?.stringValue.flatMap(Timestamp.parse),
                   Duration.seconds(Date().timeIntervalSince(first)) < configuration.linger {
                    return false  // a partial batch lingers for more (the next tick looks again)
                }
                if !events.isEmpty {
                    if let problem = await DestinationGuard.problem(with: stream.url, allow: allowHosts) {
                        throw DeliveryError(message: "destination refused: url \(problem)", retryAfter: nil)
                    }
                    try await send(events, of: stream, position: stream.position)
                    delivered.increment(by: events.count)
                }
                let caughtUp = page.count == 0
                // Lag: how long the oldest event not yet delivered has waited (0 when caught up).
                let oldest = all.first?.objectValue?["received_at"]?.stringValue.flatMap(Timestamp.parse)
                lagGauge(key).record(caughtUp ? 0 : max(0, Date().timeIntervalSince(oldest ?? Date())))
                guard try await database.advanceStream(id: id, scope: scope, owner: owner, from: stream.position, to: page.next.encoded,
                                                       cursors: page.cursors, delivered: events.count, caughtUp: caughtUp) else { return false }
                backoff.withLock { _ = $0.removeValue(forKey: key) }
                if caughtUp { return false }
            } catch {
                if Task.isCancelled { return false }  // shutting down: not the destination's failure
                failures.increment()
                let retryAfter = (error as? DeliveryError)?.retryAfter
                let failuresInARow = backoff.withLock { state -> Int in
                    let count = (state[key]?.failures ?? 0) + 1
                    var wait = min(configuration.maxBackoff, configuration.initialBackoff * (1 << min(count - 1, 20)))
                    wait = wait * Double.random(in: 0.5...1.0)
                    if let retryAfter { wait = max(wait, .seconds(min(retryAfter, 3600))) }
                    state[key] = (count, ContinuousClock.now + wait)
                    return count
                }
                let message = (error as? DeliveryError)?.message ?? "\(error)"
                if failuresInARow == 1 || failuresInARow % 10 == 0 {
                    logger.warning("stream delivery failed; retrying", metadata: ["stream": "\(key)", "failures": "\(failuresInARow)", "error": "\(message)"])
                }
                try? await database.recordStreamFailure(id: id, scope: scope, owner: owner, error: message, failingAfter: configuration.failingAfter)
                return false
            }
        }
        return true
    }

    /// Shows every stream's status in /metrics (whichever replica delivers it): read at most
    /// every `statusInterval`; a deleted stream's gauges are removed.
    func refreshStatusesIfDue() async {
        let now = ContinuousClock.now
        let due = statusGauges.withLock { state in
            guard state.read.map({ now - $0 >= configuration.statusInterval }) ?? true else { return false }
            state.read = now
            return true
        }
        guard due, let statuses = try? await database.streamStatuses() else { return }
        statusGauges.withLock { state in
            var seen: Set<String> = []
            for stream in statuses {
                let label = Self.label(stream.scope, stream.id)
                seen.insert(label)
                for status in ["active", "paused", "failing"] {
                    let gauge = state.gauges[label, default: [:]][status] ?? Gauge(label: "auditlog_stream_status", dimensions: [("stream", label), ("status", status)])
                    state.gauges[label, default: [:]][status] = gauge
                    gauge.record(stream.status == status ? 1 : 0)
                }
            }
            for (label, gauges) in state.gauges where !seen.contains(label) {
                gauges.values.forEach { $0.destroy() }
                state.gauges[label] = nil
            }
        }
    }

    func lagGauge(_ label: String) -> Gauge {
        statusGauges.withLock { state in
            if let gauge = state.gauges[label]?["lag"] { return gauge }
            let gauge = Gauge(label: "auditlog_stream_lag_seconds", dimensions: [("stream", label)])
            state.gauges[label, default: [:]]["lag"] = gauge
            return gauge
        }
    }

    struct DeliveryError: Error {
        var message: String
        var retryAfter: Int?
    }

    /// One batch to the stream's destination, in its kind's format; throws unless it answers 2xx.
    func send(_ events: [JSONValue], of stream: StreamRecord, position: String) async throws {
        let (body, headers) = Self.request(for: events, of: stream, position: position, now: Date())
        var request = HTTPClientRequest(url: stream.url)
        request.method = .POST
        request.headers = headers
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(configuration.requestTimeout.components.seconds))
        } catch {
            throw DeliveryError(message: "no answer from the destination: \(error)", retryAfter: nil)
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else {
            throw DeliveryError(message: "the destination answered \(response.status.code)",
                                retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) })
        }
    }
}
