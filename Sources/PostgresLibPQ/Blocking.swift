import Dispatch

/// Runs blocking work (libpq calls, child processes) on a Dispatch thread and awaits it,
/// keeping Swift's cooperative threads free.
public func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
