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
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.Semaphore
import java.util.concurrent.atomic.AtomicInteger

/**
 * Java sends into the core's send queue, in order, with every future completed exactly once, its dependents on
 * [completions] (see [CallbackFuture]).
 *
 * While the core's queue has room a send is queued at once (`trySend`). When it is full and the overflow is
 * [SendOverflow.SUSPEND], the send joins a waiting [line], and one coroutine at a time moves the line into the core,
 * suspending for room, in order. A send that finds others waiting goes behind them even if the core has room again,
 * so sends from one thread are never reordered. With a send gate (a rate limit) every send takes the line, so that it
 * can wait its turn there.
 *
 * The line is as long as the queue ([room] counts its free places). When it is full too, the sending thread waits for
 * room, as Java's blocking queues do — which is what SUSPEND asks for — except on a callback thread, where waiting
 * could hold up the client itself: there the send fails at once with `SendQueueFullException`. Nothing here takes a
 * lock the client's own thread could block on: the mover runs on that thread, so it only ever does atomic updates.
 */
internal class SendForwarder(
    private val client: ParleyClient,
    private val overflow: SendOverflow,
    private val capacity: Int,
    private val scope: CoroutineScope,
    private val completions: Executor,
    private val callbacks: SerialExecutor,
    /** Whether the options have a send gate: then every send goes through the line, where the gate may make it wait. */
    private val gated: Boolean = false,
) {
    private class Waiting(
        val frame: Frame,
        val future: CompletableFuture<Void?>,
    )

    /** Bounded by [room]; unlimited only so that adding to it never waits or fails. */
    private val line = Channel<Waiting>(Channel.UNLIMITED)
    private val room = Semaphore(capacity)

    /** Sends in the line, including the one being moved; the send that raises it from 0 starts the mover. */
    private val waiting = AtomicInteger()

    fun send(frame: Frame): CompletableFuture<Void?> {
        val future = CallbackFuture<Void?>(completions, callbacks)
        // The fast path, unless a send gate may make senders wait: trySend never waits, and asking the gate twice
        // for one send would count one refusal twice.
        if (waiting.get() == 0 && !gated) {
            when (val result = client.trySend(frame)) {
                is SendResult.Enqueued -> return future.completedBy(result.written)

                is SendResult.Rejected ->
                    if (result.cause !is SendQueueFullException || overflow == SendOverflow.FAIL) {
                        return future.also { it.completeExceptionally(result.cause) }
                    }
            }
        }
        if (!room.tryAcquire()) {
            if (SerialExecutor.isRunningTask) {
                return future.also { it.completeExceptionally(SendQueueFullException(capacity)) }
            }
            try {
                room.acquire()
            } catch (e: InterruptedException) {
                Thread.currentThread().interrupt()
                return future.also { it.completeExceptionally(SendQueueFullException(capacity)) }
            }
        }
        val first = waiting.getAndIncrement() == 0
        line.trySend(Waiting(frame, future))
        // On the caller's thread until the queue is full, then wherever the core resumes it (Unconfined: no hop).
        if (first) scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) { moveLine() }
        return future
    }

    private suspend fun moveLine() {
        do {
            val next = line.receive()
            try {
                next.future.completedBy(client.enqueue(next.frame))
            } catch (e: Throwable) {
                // The client stopped or disconnected: this send failed, and the ones behind it are tried in turn (each
                // fails at once the same way, or is queued if the client is connecting again).
                next.future.completeExceptionally(e)
            }
            room.release()
        } while (waiting.decrementAndGet() > 0)
    }

    /** Completes this future as [written] completes; its dependents run on [completions] whoever completes it. */
    private fun CompletableFuture<Void?>.completedBy(written: Deferred<Unit>): CompletableFuture<Void?> {
        written.invokeOnCompletion { cause -> if (cause == null) complete(null) else completeExceptionally(cause) }
        return this
    }
}
