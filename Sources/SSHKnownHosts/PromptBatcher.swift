import SSHBackend
import SSHEventLoop
import Synchronization

/// Gathers ``SSHHostKeyQuestion``s for the same prompter that arrive within a short window into one call, so a
/// run that meets hundreds of new hosts asks once per batch, not once per host.
enum PromptBatcher {
    private struct Batch {
        var questions: [SSHHostKeyQuestion] = []
        var waiters: [CheckedContinuation<Bool, Never>] = []
    }

    private static let batches = Mutex<[ObjectIdentifier: Batch]>([:])
    /// How long the first question of a batch waits for others.
    static let window: Duration = .milliseconds(50)

    /// Asks `question` through `prompter`, with whatever else arrives within ``window``.
    static func ask(_ question: SSHHostKeyQuestion, _ prompter: SSHHostKeyPrompter) async -> Bool {
        let key = ObjectIdentifier(prompter.identity)
        return await withCheckedContinuation { continuation in
            let first = batches.withLock { batches -> Bool in
                let isFirst = batches[key] == nil
                batches[key, default: Batch()].questions.append(question)
                batches[key, default: Batch()].waiters.append(continuation)
                return isFirst
            }
            guard first else { return }
            let clock = WaitClock.current
            Task {
                try? await clock.sleep(for: window)
                let batch = batches.withLock { $0.removeValue(forKey: key) } ?? Batch()
                let answers = await prompter.decide(batch.questions)
                for (index, waiter) in batch.waiters.enumerated() {
                    waiter.resume(returning: index < answers.count && answers[index])
                }
            }
        }
    }
}
