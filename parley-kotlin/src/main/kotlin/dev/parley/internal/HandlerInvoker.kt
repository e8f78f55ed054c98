package dev.parley.internal

import dev.parley.HandlerAction
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import java.util.concurrent.atomic.AtomicInteger

/**
 * Calls the handler for the loop, one callback at a time, and keeps the window of results that callbacks finish
 * later ([HandlerAction.Later]).
 *
 * The handler's state is threaded through [state]. A callback that throws is reported to [onFailure] and yields
 * `null`; a CancellationException counts as a throw too unless the loop itself is being cancelled (a `withTimeout`
 * that expires inside a callback is the handler's failure, not a reason to end the client silently).
 *
 * Later results are carried out by [carryOut], strictly in the order their callbacks returned, and each only once:
 * - [settleReady] carries out those that have completed, without waiting;
 * - [settleAll] waits for each in turn (the loop calls it before anything that writes in answer to a later event),
 *   letting a stop request through meanwhile;
 * - [abandon] forgets them when the client stops.
 */
internal class HandlerInvoker<S>(
    initialState: S,
    private val maxPending: Int,
    /** Released by each result's charge as it is settled or abandoned. */
    private val budget: InboundBudget,
    private val onFailure: suspend (Throwable) -> Unit,
    private val carryOut: suspend (HandlerAction<S>, connection: Long) -> Unit,
    /** Counts results not completed yet (for metrics): up when held, down as each completes, on any thread. */
    private val outstanding: AtomicInteger = AtomicInteger(),
) {
    var state: S = initialState

    private class Pending<S>(
        val result: Deferred<HandlerAction<S>>,
        val connection: Long,
        /** What the message it answers holds of the inbound budget. */
        val charge: Long,
    )

    private val pending = ArrayDeque<Pending<*>>()

    /** Set while [settleAll] runs, so an action it carries out (a Disconnect that fires a close) cannot re-enter it. */
    private var settling = false

    val isFull: Boolean get() = pending.size >= maxPending

    /**
     * Signalled when a result completes that the loop should carry out soon: one with something to do (a failure, or
     * any action but Ok), or any result while such a one waits behind it, or while the reader waits for the inbound
     * budget that settling it gives back. Otherwise a result that completes with Ok wakes nobody: it only frees its
     * place in the window, which the loop notices on its next turn (or at once when the window is full). That keeps a
     * callback that replies nothing from costing a wake-up of the client's thread per message.
     */
    val wake = Channel<Unit>(Channel.CONFLATED)

    /** Completed results with something to do and not carried out yet (may read one low for a moment; see [hold]). */
    private val urgentWaiting = AtomicInteger()

    /** Whether the oldest outstanding result has completed, so [settleReady] has something to do. */
    val hasCompletedResult: Boolean get() = pending.firstOrNull()?.result?.isCompleted == true

    /** Whether more than half the window is taken: the loop, once the window was full, waits until it is not. */
    val isOverHalfFull: Boolean get() = !settling && pending.size > maxPending / 2

    /**
     * The result to wait for to bring the window down to half: the oldest not completed yet among those that must be
     * settled for that; `null` if all of them have completed (so [settleReady] frees the room).
     */
    val nextToMakeRoom: Deferred<*>?
        get() {
            for (i in 0 until pending.size - maxPending / 2) {
                val result = pending[i].result
                if (!result.isCompleted) return result
            }
            return null
        }

    suspend fun <T> call(callback: suspend (S) -> T): T? = try {
        callback(state)
    } catch (e: Throwable) {
        if (e is CancellationException) currentCoroutineContext().ensureActive()
        onFailure(e)
        null
    }

    /**
     * Holds [result], answering a callback of [connection] (with the [charge] of its message, released when it is
     * settled); the loop makes room first (see [isFull]).
     */
    fun hold(result: Deferred<HandlerAction<S>>, connection: Long, charge: Long) {
        pending.addLast(Pending(result, connection, charge))
        outstanding.incrementAndGet()
        result.invokeOnCompletion {
            outstanding.decrementAndGet()
            val urgent = isUrgent(result)
            if (urgent) urgentWaiting.incrementAndGet()
            if (urgent || urgentWaiting.get() > 0 || budget.readerWaiting) wake.trySend(Unit)
        }
    }

    @OptIn(ExperimentalCoroutinesApi::class)
    private fun isUrgent(done: Deferred<*>): Boolean =
        done.getCompletionExceptionOrNull() != null || done.getCompleted() !is HandlerAction.Ok<*>

    suspend fun settleReady() {
        while (!settling && pending.firstOrNull()?.result?.isCompleted == true) settle(removeOldest())
    }

    /**
     * Carries out every outstanding result in turn, waiting for each with [awaitOrStop], which returns when the result
     * completes or once a stop request has been acted on (which [abandon]s the rest).
     */
    suspend fun settleAll(awaitOrStop: suspend (Deferred<*>) -> Unit) {
        if (settling || pending.isEmpty()) return
        settling = true
        try {
            while (pending.isNotEmpty()) {
                val oldest = pending.first().result
                if (!oldest.isCompleted) awaitOrStop(oldest)
                // Abandoned meanwhile: the client is stopping.
                if (pending.firstOrNull()?.result !== oldest || !oldest.isCompleted) return
                settle(removeOldest())
            }
        } finally {
            settling = false
        }
    }

    fun abandon() {
        for (done in pending) budget.release(done.charge)
        pending.clear()
    }

    private fun removeOldest(): Pending<*> = pending.removeFirst().also { budget.release(it.charge) }

    @OptIn(ExperimentalCoroutinesApi::class)
    @Suppress("UNCHECKED_CAST")
    private suspend fun settle(done: Pending<*>) {
        val result = done.result as Deferred<HandlerAction<S>>
        // Settled before its completion handler may have run: the count then dips below zero for a moment, which
        // at worst causes one needless wake-up.
        if (isUrgent(result)) urgentWaiting.decrementAndGet()
        // The very exception the result failed with (await() could hand on a recovered copy).
        val failure = result.getCompletionExceptionOrNull()
        if (failure != null) return onFailure(failure)
        val action = result.getCompleted()
        if (action !is HandlerAction.Ok) carryOut(action, done.connection)
    }
}
