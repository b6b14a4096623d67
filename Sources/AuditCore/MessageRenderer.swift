import Foundation
import Mustache

/// Writes an event's plain-language message when the publisher sent none: from the
/// Mustache template named after the action (`Templates/client.renamed.mustache`), else
/// from a generic sentence such as "Alice Smith renamed client Acme Ltd".
///
/// Templates use triple braces: messages are plain text, escaped where they are shown.
public struct MessageRenderer: Sendable {
    let library: MustacheLibrary

    /// Loads the templates shipped with the binary.
    public static func bundled() async throws -> MessageRenderer {
        guard let folder = Bundle.module.resourceURL?.appendingPathComponent("Templates") else {
            return MessageRenderer(library: MustacheLibrary())
        }
        return MessageRenderer(library: try await MustacheLibrary(directory: folder.path))
    }

    init(library: MustacheLibrary) {
        self.library = library
    }

    public func render(_ draft: EventDraft) -> String {
        if let message = draft.message { return message }
        let values = templateValues(draft)
        if library.getTemplate(named: draft.action) != nil,
           let text = library.render(values, withTemplate: draft.action) {
            let collapsed = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            if !collapsed.isEmpty { return collapsed }
        }
        return Self.fallback(draft)
    }

    /// "<actor> <verb> <target type> <target name>", from the action's last word.
    static func fallback(_ draft: EventDraft) -> String {
        let words = draft.action.split(separator: ".").map { $0.replacingOccurrences(of: "_", with: " ") }
        let verb = words.last ?? draft.action
        let actor = draft.actor.name ?? draft.actor.id
        if let target = draft.targets.first {
            return "\(actor) \(verb) \(target.type.replacingOccurrences(of: "_", with: " ")) \(target.name ?? target.id)"
        }
        let noun = words.dropLast().joined(separator: " ")
        return noun.isEmpty ? "\(actor) \(verb)" : "\(actor) \(verb) \(noun)"
    }

    func templateValues(_ draft: EventDraft) -> [String: Any] {
        func target(_ target: Target) -> [String: Any] {
            ["type": target.type, "id": target.id, "name": target.name ?? target.id]
        }
        var values: [String: Any] = [
            "action": draft.action,
            "category": draft.category,
            "actor": [
                "type": draft.actor.type, "id": draft.actor.id,
                "name": draft.actor.name ?? draft.actor.id, "email": draft.actor.email ?? "",
            ] as [String: Any],
            "targets": draft.targets.map(target),
            "before": Changes.nest(draft.changes.mapValues(\.old)),
            "after": Changes.nest(draft.changes.mapValues(\.new)),
            "metadata": draft.metadata.mapValues(\.templateValue),
        ]
        if let first = draft.targets.first { values["target"] = target(first) }
        if draft.targets.count > 1 { values["second_target"] = target(draft.targets[1]) }
        return values
    }
}
