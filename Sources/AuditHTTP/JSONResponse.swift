import AuditCore
import Hummingbird

extension JSONValue {
    /// This value as a JSON response body.
    func response(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: canonicalText)))
    }
}
