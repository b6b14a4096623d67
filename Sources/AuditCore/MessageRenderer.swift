import Foundation
import Mustache

/// Writes an event's plain-language message when the publisher sent none: from the
/// Mustache template named after the action (`Templates/client.renamed.mustache`), else
/// from a generic sentence such as "Alice Smith renamed client Acme Ltd".
///
/// Templates use triple braces: messages are plain text, escaped where they are shown.
public struct MessageRenderer: Sendable {
    let library: MustacheLibrary
    /// The templates compiled for rendering without Mustache's dynamic lookups, by action
    /// (those `MessageTemplate` covers; the others render with `library`).
    let compiled: [String: MessageTemplate]

    /// Loads the templates shipped with the binary.
    public static func bundled() async throws -> MessageRenderer {
        guard let folder = Bundle.module.resourceURL?.appendingPathComponent("Templates") else {
            return MessageRenderer(library: MustacheLibrary())
        }
        var compiled: [String: MessageTemplate] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".mustache") {
            let source = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            compiled[String(name.dropLast(".mustache".count))] = MessageTemplate(source)
        }
        return MessageRenderer(library: try await MustacheLibrary(directory: folder.path), compiled: compiled)
    }

    init(library: MustacheLibrary, compiled: [String: MessageTemplate] = [:]) {
        self.library = library
        self.compiled = compiled
    }

    /// How customers see the vendor in the service's own entries (`AUDITLOG_VENDOR_NAME`).
    public var vendorName = "the service provider"

    /// A message the service writes about itself (a setting requested, a stream paused, a
    /// support view): the template `Templates/service/<name>.mustache`, which may also name
    /// `{{{vendor}}}`. These entries are few, so they render through Mustache itself.
    public func renderOwn(_ draft: EventDraft, template name: String) -> String {
        var values = templateValues(draft)
        values["vendor"] = vendorName
        if let text = library.render(values, withTemplate: "service/" + name) {
            let collapsed = Self.collapsingWhitespace(text)
            if !collapsed.isEmpty { return collapsed }
        }
        return Self.fallback(draft)
    }

    public func render(_ draft: EventDraft) -> String {
        if let message = draft.message { return message }
        if let template = compiled[draft.action], let text = template.render(draft) {
            let collapsed = Self.collapsingWhitespace(text)
            return collapsed.isEmpty ? Self.fallback(draft) : collapsed
        }
        return renderWithMustache(draft)
    }

    /// The message as Mustache renders it (for templates and values `MessageTemplate` leaves to it).
    func renderWithMustache(_ draft: EventDraft) -> String {
        if library.getTemplate(named: draft.action) != nil,
           let text = library.render(templateValues(draft), withTemplate: draft.action) {
            let collapsed = Self.collapsingWhitespace(text)
            if !collapsed.isEmpty { return collapsed }
        }
        return Self.fallback(draft)
    }

    /// Runs of whitespace as one space, none at the ends: on bytes for ASCII text, by
    /// `Character.isWhitespace` otherwise.
    static func collapsingWhitespace(_ text: String) -> String {
        let utf8 = text.utf8
        guard utf8.allSatisfy({ $0 < 0x80 }) else {
            return text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        var output: [UInt8] = []
        output.reserveCapacity(utf8.count)
        var pendingSpace = false
        for byte in utf8 {
            if byte == 0x20 || (0x09...0x0D).contains(byte) {
                pendingSpace = !output.isEmpty
            } else {
                if pendingSpace { output.append(0x20); pendingSpace = false }
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// An action without a template reads "<actor>: <action>" ("Eve Ng: user.login_failed"):
    /// words guessed from an action's parts read in the wrong order as often as not (SPEC §6.4).
    static func fallback(_ draft: EventDraft) -> String {
        "\(draft.actor.name ?? draft.actor.id): \(draft.action)"
    }

    /// An object value as a message writes it: its `name`, `label` or `id` member when it has one
    /// (a string or a number), else its canonical JSON, which is the same text in every process.
    static func text(of members: [String: JSONValue]) -> String {
        for key in ["name", "label", "id"] {
            switch members[key] {
            case .string(let text)?: return text
            case .number?: return members[key]!.canonicalText
            default: continue
            }
        }
        return JSONValue.object(members).canonicalText
    }

    func templateValues(_ draft: EventDraft) -> [String: Any] {
        func target(_ target: Target) -> TemplateObject {
            TemplateObject(members: ["type": .string(target.type), "id": .string(target.id), "name": .string(target.name ?? target.id)])
        }
        var values: [String: Any] = [
            "action": draft.action,
            "category": draft.category,
            "actor": TemplateObject(members: [
                "type": .string(draft.actor.type), "id": .string(draft.actor.id),
                "name": .string(draft.actor.name ?? draft.actor.id), "email": .string(draft.actor.email ?? ""),
            ]),
            "targets": draft.targets.map(target),
            "before": TemplateObject(members: Changes.nest(draft.changes.mapValues(\.old))),
            "after": TemplateObject(members: Changes.nest(draft.changes.mapValues(\.new))),
            "metadata": TemplateObject(members: draft.metadata),
        ]
        if let first = draft.targets.first { values["target"] = target(first) }
        if draft.targets.count > 1 { values["second_target"] = target(draft.targets[1]) }
        return values
    }
}

/// A JSON object as Mustache sees it: its members by name, and as text its canonical JSON.
///
/// A Swift dictionary would print in its hash order, which changes from one process to the next;
/// a message is part of its event's hash, so the same event retried after a restart would then
/// be refused as a different event (409). Canonical JSON is the same text every time.
struct TemplateObject: MustacheParent, MustacheCustomRenderable, CustomStringConvertible, CustomDebugStringConvertible {
    var members: [String: JSONValue]

    func child(named name: String) -> Any? { members[name]?.templateValue }
    var renderText: String { MessageRenderer.text(of: members) }
    var isNull: Bool { false }
    var description: String { renderText }
    var debugDescription: String { renderText }
}
