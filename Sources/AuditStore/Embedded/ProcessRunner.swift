import Foundation

/// Runs a program to completion and captures what it printed.
///
/// Uses `posix_spawn` and `waitpid` directly, with output going to a temporary file rather
/// than a pipe: `pg_ctl start` leaves a daemon behind, and a pipe inherited anywhere in that
/// tree would keep a reader waiting forever.
struct ProcessRunner {
    struct Output {
        var status: Int32
        var text: String
    }

    /// When set, programs run as this user through `runuser` (PostgreSQL refuses root).
    var user: String?

    func run(_ executable: String, _ arguments: [String]) throws -> Output {
        var argv = [executable] + arguments
        var path = executable
        if let user {
            path = try Self.locate("runuser", extra: ["/usr/sbin", "/sbin"])
            argv = [path, "-u", user, "--"] + argv
        }
        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("auditlog-\(getpid())-\(UUID().uuidString).out").path
        defer { unlink(outputPath) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, path, &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw EmbeddedPostgresError(message: "cannot run \(path): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw EmbeddedPostgresError(message: "waitpid failed for \(path)") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS, spelled out (the C macros are not imported).
        let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: exitStatus, text: text)
    }

    /// Finds `name` on PATH, then in `extra` folders.
    static func locate(_ name: String, extra: [String] = []) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":").map(String.init) + extra {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw EmbeddedPostgresError(message: "\(name) was not found on PATH or in \(extra.joined(separator: ", "))")
    }
}
