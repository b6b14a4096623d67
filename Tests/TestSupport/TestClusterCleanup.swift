import Foundation

/// Stops the test cluster when the test process exits, and clears clusters left by
/// test processes that died (PostgreSQL also stops by itself once its folder is gone).
enum TestClusterCleanup {
    nonisolated(unsafe) static var directory: String?

    static func register(directory path: String) {
        directory = path
        atexit {
            guard let path = TestClusterCleanup.directory else { return }
            TestClusterCleanup.stopAndRemove(path)
        }
    }

    static func removeStaleClusters() {
        let temporary = NSTemporaryDirectory()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: temporary)) ?? []
        for entry in entries where entry.hasPrefix("auditlog-test-") {
            guard let pid = Int32(entry.dropFirst("auditlog-test-".count)), pid != getpid() else { continue }
            if kill(pid, 0) == 0 { continue }  // its test process is still running
            stopAndRemove((temporary as NSString).appendingPathComponent(entry))
        }
    }

    /// Fast shutdown by signal (no child process needed at exit), then removes the folder.
    static func stopAndRemove(_ path: String) {
        if let text = try? String(contentsOfFile: path + "/pg/postmaster.pid", encoding: .utf8),
           let line = text.split(separator: "\n").first, let pid = Int32(line) {
            kill(pid, SIGINT)
            var waited = 0
            while kill(pid, 0) == 0, waited < 100 {
                usleep(50_000)
                waited += 1
            }
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}
