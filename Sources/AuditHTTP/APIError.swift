import Foundation
import Hummingbird

/// An error answered as SPEC §6.3's body: `{"error": {"code", "message", "details"}}`.
///
/// `message` is a plain sentence safe to show anyone: never SQL, a stack trace or
/// another tenant's data.
public struct APIError: Error, HTTPResponseError, Sendable {
    public struct Detail: Codable, Sendable, Equatable {
        public var index: Int?
        public var field: String?
        public var message: String

        public init(index: Int? = nil, field: String? = nil, message: String) {
            self.index = index
            self.field = field
            self.message = message
        }
    }

    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: [Detail]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, code: String, message: String, details: [Detail] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    struct Body: Codable {
        struct Content: Codable {
            var code: String
            var message: String
            var details: [Detail]
        }
        var error: Content
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(Body(error: .init(code: code, message: message, details: details)))
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension APIError {
    public static func databaseUnavailable() -> APIError {
        APIError(.serviceUnavailable, code: "database_unavailable",
                 message: "The database is unavailable; try again shortly.",
                 headers: [.retryAfter: "5"])
    }

    public static func internalError() -> APIError {
        APIError(.internalServerError, code: "internal_error", message: "An unexpected error occurred.")
    }
}
