package dev.parley.java.internal

import dev.parley.Frame
import dev.parley.ParleyClient
import dev.parley.SendOverflow
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock

/**
 * Java sends into the core's send queue, in order, with every future completed exactly once on [completions].
 *
 * While the core's queue has room a send is queued at once (`trySend`). When it is full and the overflow is
 * [SendOverflow.SUSPEND], the send waits in [backlog], and one coroutine at a time moves the backlog into the core,
 * suspending for room, in order. A send that finds a backlog goes behind it even if the core has room again, so sends
 * from one thread are never reordered.
 *
 * The backlog is as long as the queue. When it is full too, the sending thread waits for room, as Java's blocking
 * queues do — which is what SUSPEND asks for — except on a callback thread, where waiting could hold up the client
 * itself: there the send fails at once with `SendQueueFullException`.
 */
internal class SendForwarder(
    private val client: ParleyClient,
    private val overflow: SendOverflow,
    private val capacity: Int,
    private val scope: CoroutineScope,
    private val completions: Executor,
) {
    private class Waiting(
        val frame: Frame,
        val future: CompletableFuture<Void?>,
    )

    private val lock = ReentrantLock()

    /** Signalled whenever the backlog shrinks. */
    private val room = lock.newCondition()

    /** Sends waiting for room, oldest first; the head is the one being moved. Guarded by [lock]. */
    private val backlog = ArrayDeque<Waiting>()

    fun send(frame: Frame): CompletableFuture<Void?> {
        val future = CompletableFuture<Void?>()
        lock.withLock {
            while (backlog.size >= capacity && !SerialExecutor.isRunningTask) {
                try {
                    room.await()
                } catch (e: InterruptedException) {
                    Thread.currentThread().interrupt()
                    return future.also { it.completeExceptionally(SendQueueFullException(capacity)) }
                }
            }
            if (backlog.isEmpty()) {
                when (val result = client.trySend(frame)) {
                    is SendResult.Enqueued -> return future.completedBy(result.written)

                    is SendResult.Rejected ->
                        if (result.cause !is SendQueueFullException || overflow == SendOverflow.FAIL) {
                            return future.also { it.completeExceptionally(result.cause) }
                        }
                }
            }
            if (backlog.size >= capacity) {
                return future.also { it.completeExceptionally(SendQueueFullException(capacity)) }
            }
            backlog.addLast(Waiting(frame, future))
            if (backlog.size > 1) return future
        }
        // This send started the backlog: move it, and whatever joins it meanwhile, on the caller's thread until the
        // queue is full, then wherever the core resumes it. (Unconfined: no hop just to call enqueue.)
        scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) { moveBacklog() }
        return future
    }

    private suspend fun moveBacklog() {
        while (true) {
            val head = lock.withLock { backlog.first() }
            try {
                head.future.completedBy(client.enqueue(head.frame))
            } catch (e: Throwable) {
                // The client stopped or disconnected: this send failed, and the ones behind it are tried in turn (each
                // fails at once the same way, or is queued if the client is connecting again).
                completions.execute { head.future.completeExceptionally(e) }
            }
            lock.withLock {
                backlog.removeFirst()
                room.signalAll()
                if (backlog.isEmpty()) return
            }
        }
    }

    /** Completes this future as [written] completes, on [completions] (never on the client's own thread). */
    private fun CompletableFuture<Void?>.completedBy(written: Deferred<Unit>): CompletableFuture<Void?> {
        written.invokeOnCompletion { cause ->
            completions.execute { if (cause == null) complete(null) else completeExceptionally(cause) }
        }
        return this
    }
}
