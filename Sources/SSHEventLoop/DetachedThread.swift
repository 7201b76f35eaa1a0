#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body` once on a new detached thread: for work that must neither block a loop or Swift's cooperative pool
/// nor wait in a shared queue behind unrelated work (a private key's derivation, once per key). Returns whether the
/// thread started.
@discardableResult
package func runOnDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Job {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Job(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box)
    guard rc == 0 else {
        Unmanaged<Job>.fromOpaque(box).release()
        return false
    }
    pthread_detach(thread)
    return true
}
