import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Logs events from a publisher's request handlers without ever making them wait.
///
/// `log(_:)` puts the event in a bounded in-memory buffer and returns at once. `run()` (a
/// ServiceLifecycle service: add it to your `ServiceGroup`) sends the buffer in batches of up to
/// `batchSize`, as soon as a batch is full or `flushInterval` after the oldest event arrived.
/// A batch that fails for a transient reason (no answer, 429, 5xx) is sent again, unchanged,
/// with exponential backoff and jitter (honouring `Retry-After`), until it is stored. Every
/// event gets an `id` and `occurred_at` when it is logged, so a retry is idempotent: the server
/// counts an event it already stored as a duplicate and stores it once.
///
/// What the server refuses for good is dropped and logged: a batch answered 422 loses exactly
/// the events the answer names and the rest is sent again; a batch answered another 4xx is
/// split until the one event at fault is found. On graceful shutdown, `run()` sends what is
/// buffered, for at most `shutdownTimeout`. `flush()` waits until everything logged before it
/// was stored (or dropped).
public final class AuditLogPublisher: Service, Sendable {
    public struct Configuration: Sendable {
        /// Events per request (1–1000).
        public var batchSize: Int
        /// How long an event waits for its batch to fill.
        public var flushInterval: Duration
        /// Events held at most; `log` drops (and counts) what does not fit.
        public var bufferCapacity: Int
        public var initialBackoff: Duration
        public var maxBackoff: Duration
        /// How long `run()` keeps sending after graceful shutdown begins.
        public var shutdownTimeout: Duration

        public init(batchSize: Int = 500, flushInterval: Duration = .milliseconds(200), bufferCapacity: Int = 100_000,
                    initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(30),
                    shutdownTimeout: Duration = .seconds(10)) {
            self.batchSize = max(1, min(1000, batchSize))
            self.flushInterval = flushInterval
            self.bufferCapacity = max(1, bufferCapacity)
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.shutdownTimeout = shutdownTimeout
        }
    }

    /// What happened to the events logged so far.
    public struct Statistics: Sendable, Equatable {
        public var logged = 0
        /// Stored (the server answered 201 for them, new or duplicate).
        public var stored = 0
        /// Refused by the server for good (invalid, or an id taken by another event).
        public var rejected = 0
        /// Not buffered: the buffer was full.
        public var droppedFull = 0
        /// Still buffered when shutdown's time ran out.
        public var lostAtShutdown = 0
        /// Requests sent again after a transient failure.
        public var retries = 0
    }

    struct Entry: Sendable {
        var sequence: UInt64
        var event: Components.Schemas.EventInput
        var loggedAt: ContinuousClock.Instant
    }

    struct State {
        var buffer: [Entry] = []
        var head = 0
        var nextSequence: UInt64 = 1
        /// Every event up to this one was stored or dropped (the sender works in order).
        var settledThrough: UInt64 = 0
        var waiters: [(through: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var wake: AsyncStream<Void>.Continuation?
        /// Graceful shutdown began: the loop stops retrying and hands over to the final drain.
        var shuttingDown = false
        /// `run()` has returned: nothing more will be sent, so `flush()` does not wait.
        var finished = false
        var statistics = Statistics()
        var count: Int { buffer.count - head }
    }

    public let client: AuditLogClient
    public let configuration: Configuration
    let logger: Logger
    let state = Mutex(State())

    public init(client: AuditLogClient, configuration: Configuration = Configuration(),
                logger: Logger = Logger(label: "auditlog.publisher")) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Buffers `event` for sending and returns at once: false when the buffer was full (or `run()`
    /// has already returned) and the event was dropped. Gives it an id and `occurred_at` (now) when it has none.
    @discardableResult
    public func log(_ event: Components.Schemas.EventInput) -> Bool {
        var event = event
        if event.id == nil { event.id = UUID().uuidString.lowercased() }
        if event.occurredAt == nil { event.occurredAt = Date() }
        let now = ContinuousClock.now
        let (accepted, wake) = state.withLock { state -> (Bool, AsyncStream<Void>.Continuation?) in
            state.statistics.logged += 1
            guard !state.finished else {
                state.statistics.lostAtShutdown += 1
                return (false, nil)
            }
            guard state.count < configuration.bufferCapacity else {
                state.statistics.droppedFull += 1
                return (false, nil)
            }
            state.buffer.append(Entry(sequence: state.nextSequence, event: event, loggedAt: now))
            state.nextSequence += 1
            return (true, state.count >= configuration.batchSize ? state.wake : nil)
        }
        if !accepted { logger.warning("audit event dropped: the publisher's buffer is full or it has shut down", metadata: ["action": "\(event.action)"]) }
        wake?.yield()
        return accepted
    }

    /// Returns once every event logged before the call is stored or dropped (at once after
    /// `run()` has returned). Needs `run()`.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (waiting, wake) = state.withLock { state -> (Bool, AsyncStream<Void>.Continuation?) in
                let through = state.nextSequence - 1
                guard state.settledThrough < through, !state.finished else { return (false, nil) }
                state.waiters.append((through, continuation))
                return (true, state.wake)
            }
            if waiting { wake?.yield() } else { continuation.resume() }
        }
    }

    /// Sends until graceful shutdown (or cancellation), then what is left, for `shutdownTimeout`.
    public func run() async throws {
        let (signals, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        state.withLock { $0.wake = wake }
        wake.yield()  // what was logged (or flushed) before run() started
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: configuration.flushInterval / 2)
                wake.yield()
            }
        }
        await withGracefulShutdownHandler {
            for await _ in signals {
                await drain(force: false, deadline: nil)
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.shuttingDown = true }
            wake.finish()
        }
        ticker.cancel()
        state.withLock { $0.wake = nil }
        await drain(force: true, deadline: .now + configuration.shutdownTimeout)
        let lost = state.withLock { state -> Int in
            let lost = state.count
            state.statistics.lostAtShutdown += lost
            state.buffer.removeAll()
            state.head = 0
            state.settledThrough = state.nextSequence - 1
            state.finished = true
            return lost
        }
        if lost > 0 { logger.error("audit events not sent before shutdown", metadata: ["events": "\(lost)"]) }
        resumeSettledWaiters()
    }

    /// Sends batches while one is due: full, or its oldest event waited `flushInterval`, or a
    /// `flush()` waits for it, or `force`.
    func drain(force: Bool, deadline: ContinuousClock.Instant?) async {
        while let batch = takeBatch(force: force) {
            if let deadline, ContinuousClock.now >= deadline { return }
            if Task.isCancelled || (deadline == nil && state.withLock({ $0.shuttingDown })) { return }
            await deliver(batch, deadline: deadline)
        }
    }

    func takeBatch(force: Bool) -> [Entry]? {
        state.withLock { state in
            guard state.count > 0 else { return nil }
            let due = force || state.count >= configuration.batchSize || !state.waiters.isEmpty
                || state.buffer[state.head].loggedAt.duration(to: .now) >= configuration.flushInterval
            guard due else { return nil }
            // The batch stays in the buffer until it is settled, so shutdown counts it if it is not.
            let end = min(state.buffer.count, state.head + configuration.batchSize)
            return Array(state.buffer[state.head..<end])
        }
    }

    /// Sends `batch` until it is stored or refused for good (or `deadline` passes).
    func deliver(_ batch: [Entry], deadline: ContinuousClock.Instant?) async {
        var pending = batch
        var attempt = 0
        while !pending.isEmpty {
            do {
                _ = try await client.send(pending.map(\.event))
                settle(through: batch.last!.sequence, stored: pending.count, rejected: 0)
                return
            } catch let error as AuditLogError where error.status == 422 && !error.details.compactMap(\.index).isEmpty {
                let bad = Set(error.details.compactMap(\.index))
                for index in bad.sorted() where index < pending.count {
                    logger.error("audit event refused by the server", metadata: [
                        "id": "\(pending[index].event.id ?? "")", "action": "\(pending[index].event.action)",
                        "problems": "\(error.details.filter { $0.index == index }.map { "\($0.field ?? ""): \($0.message)" })"])
                }
                pending = pending.enumerated().filter { !bad.contains($0.offset) }.map(\.element)
                state.withLock { $0.statistics.rejected += bad.count }
            } catch let error as AuditLogError where !error.isTransient && ![401, 403].contains(error.status) {
                if pending.count == 1 {
                    logger.error("audit event refused by the server", metadata: [
                        "id": "\(pending[0].event.id ?? "")", "action": "\(pending[0].event.action)", "error": "\(error)"])
                    state.withLock { $0.statistics.rejected += 1 }
                    pending = []
                } else {
                    // Find the event at fault: each half on its own (in order, so flush stays ordered).
                    let half = pending.count / 2
                    await deliver(Array(pending[..<half]), deadline: deadline)
                    await deliver(Array(pending[half...]), deadline: deadline)
                    settle(through: batch.last!.sequence, stored: 0, rejected: 0)
                    return
                }
            } catch {
                attempt += 1
                state.withLock { $0.statistics.retries += 1 }
                var wait = min(configuration.maxBackoff, configuration.initialBackoff * (1 << min(attempt - 1, 20)))
                wait = wait * Double.random(in: 0.5...1.0)
                if let retryAfter = (error as? AuditLogError)?.retryAfter { wait = max(wait, .seconds(retryAfter)) }
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("audit batch not sent; retrying", metadata: ["events": "\(pending.count)", "attempt": "\(attempt)", "error": "\(error)"])
                }
                if let deadline, ContinuousClock.now + wait >= deadline { return }
                if deadline == nil, state.withLock({ $0.shuttingDown }) { return }
                // In slices, so graceful shutdown does not wait out a long backoff.
                let until = ContinuousClock.now + wait
                while ContinuousClock.now < until {
                    do { try await Task.sleep(for: min(.milliseconds(200), ContinuousClock.now.duration(to: until))) } catch { return }
                    if deadline == nil, state.withLock({ $0.shuttingDown }) { return }
                }
            }
        }
        settle(through: batch.last!.sequence, stored: 0, rejected: 0)
    }

    /// Everything through `sequence` is done: out of the buffer, and flushes waiting for it resume.
    func settle(through sequence: UInt64, stored: Int, rejected: Int) {
        state.withLock { state in
            while state.head < state.buffer.count, state.buffer[state.head].sequence <= sequence { state.head += 1 }
            if state.head > 4096, state.head * 2 > state.buffer.count {
                state.buffer.removeFirst(state.head)
                state.head = 0
            }
            state.settledThrough = max(state.settledThrough, sequence)
            state.statistics.stored += stored
            state.statistics.rejected += rejected
        }
        resumeSettledWaiters()
    }

    func resumeSettledWaiters() {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let settled = state.settledThrough
            let ready = state.waiters.filter { $0.through <= settled }.map(\.continuation)
            state.waiters.removeAll { $0.through <= settled }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}
