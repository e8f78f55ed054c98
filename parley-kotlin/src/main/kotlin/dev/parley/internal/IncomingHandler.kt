package dev.parley.internal

import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.ParleyHandler
import dev.parley.StopReason
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.onEach
import kotlinx.coroutines.flow.receiveAsFlow

/** A handler that wants to know when its client has stopped for good (called once, by the loop, as it ends). */
internal interface StopAware {
    fun stopped(reason: StopReason)
}

/**
 * The handler behind a client used without one ([dev.parley.ParleyConnection]): whole messages go to [incoming].
 *
 * A message is handed over at once while the channel has room, in messages ([CAPACITY]) and in bytes
 * ([maxBufferedBytes], as the client counts them: see [InboundBudget]). Otherwise the message waits, answered with a
 * [HandlerAction.Later] that completes once the channel takes it; later messages wait behind it, in order. So the
 * client reads on while nobody collects only until its own budget or window of later results is full, then stops
 * reading and the socket pushes back on the peer — and a stop() still gets through, since the loop itself never
 * waits here.
 */
internal class IncomingHandler(
    maxBufferedBytes: Long,
) : ParleyHandler<Unit>,
    StopAware {
    private val channel = Channel<Frame>(CAPACITY)

    /** The bytes of the messages in [channel]: taken as one goes in, given back as the collector takes it. */
    private val budget = InboundBudget(maxBufferedBytes)

    /** Runs the hand-overs that wait for room; cancelled when the client stops. */
    private val waiting = CoroutineScope(SupervisorJob() + Dispatchers.Unconfined)

    /** The last hand-over still waiting for room, if any; touched by the loop only. */
    private var last: Deferred<HandlerAction<Unit>>? = null

    private val ok = HandlerAction.Ok(Unit)

    val incoming: Flow<Frame> = channel.receiveAsFlow().onEach { budget.release(InboundBudget.charge(it)) }

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        // Pongs reach onFrame through the default onPong; they are not messages.
        if (frame !is Frame.Text && frame !is Frame.Binary) return ok
        val charge = InboundBudget.charge(frame)
        val before = last?.takeUnless { it.isCompleted }
        if (before == null && budget.tryAcquire(charge)) {
            if (channel.trySend(frame).isSuccess) return ok
            budget.release(charge)
        }
        val next =
            waiting.async {
                before?.await()
                budget.acquire(charge)
                channel.send(frame)
                ok
            }
        last = next
        return HandlerAction.Later(next, Unit)
    }

    override fun stopped(reason: StopReason) {
        // Messages already handed over can still be collected; then the flow completes.
        channel.close()
        waiting.cancel()
    }

    private companion object {
        /** Messages held for a collector that lags, before the window of waiting hand-overs starts to fill. */
        const val CAPACITY = 64
    }
}
