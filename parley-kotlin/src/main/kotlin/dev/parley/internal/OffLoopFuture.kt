package dev.parley.internal

import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asExecutor
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/**
 * A layer's result as a future for Java callers. It is completed off the client's thread, so its dependents
 * (`thenRun`, `whenComplete`) never run there and cannot stall the connection; and waiting for it (`get`, `join`)
 * on the client's own thread, inside a callback, fails at once instead of waiting for what that very wait holds up.
 */
internal fun Deferred<Unit>.offLoopFuture(shared: ClientShared): CompletableFuture<Void?> {
    val future = OffLoopFuture<Void?>(shared)
    invokeOnCompletion { cause ->
        offLoop.execute { if (cause == null) future.complete(null) else future.completeExceptionally(cause) }
    }
    return future
}

private val offLoop = Dispatchers.Default.asExecutor()

private class OffLoopFuture<T>(
    private val shared: ClientShared,
) : CompletableFuture<T>() {
    override fun <U> newIncompleteFuture(): CompletableFuture<U> = OffLoopFuture(shared)

    override fun get(): T {
        checkMayWait()
        return super.get()
    }

    override fun get(timeout: Long, unit: TimeUnit): T {
        checkMayWait()
        return super.get(timeout, unit)
    }

    override fun join(): T {
        checkMayWait()
        return super.join()
    }

    private fun checkMayWait() = check(isDone || !shared.isRunningOnThisThread()) {
        "waited on the client's own thread, inside one of its callbacks, for a frame that thread must write first: " +
            "chain a dependent (thenRun, whenComplete) instead of waiting"
    }
}
