import Foundation

/// The `initdb` and `pg_ctl` of this machine: on PATH, else the newest `/usr/lib/postgresql/*/bin`.
struct PostgresBinaries: Sendable {
    var initdb: String
    var pgCtl: String

    /// Another program of the server's (`pg_basebackup`): beside `pg_ctl`, its link's target, or
    /// in the same folders `find` searches.
    func program(_ name: String) throws -> String {
        let beside = [URL(fileURLWithPath: pgCtl), URL(fileURLWithPath: pgCtl).resolvingSymlinksInPath()]
            .map { $0.deletingLastPathComponent().appendingPathComponent(name).path }
        for candidate in beside + Self.folders().map({ $0 + "/" + name }) where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw EmbeddedPostgresError(message: "PostgreSQL's \(name) was not found beside \(pgCtl) or in /usr/lib/postgresql/*/bin")
    }

    static func folders() -> [String] {
        var folders = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        folders += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "\(root)/\($0)/bin" }
        return folders
    }

    static func find() throws -> PostgresBinaries {
        for folder in folders() {
            let initdb = folder + "/initdb", pgCtl = folder + "/pg_ctl"
            if FileManager.default.isExecutableFile(atPath: initdb), FileManager.default.isExecutableFile(atPath: pgCtl) {
                return PostgresBinaries(initdb: initdb, pgCtl: pgCtl)
            }
        }
        throw EmbeddedPostgresError(message: """
            PostgreSQL's initdb and pg_ctl were not found on PATH or in /usr/lib/postgresql/*/bin. \
            Install the server (apt-get install postgresql) or set DATABASE_URL to use an existing database.
            """)
    }
}
