package dev.parley.internal

import dev.parley.ClientStoppedException
import dev.parley.ParleyException
import dev.parley.StopReason
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ReceiveChannel

/**
 * User frames on their way to the writer, bounded in frames. Every frame that enters is answered exactly once (see
 * [Outbound]): written by the writer, or failed here — by [failQueued] when a connection or attempt ends, by [close]
 * when the client stops, or by the channel's undelivered-element hook when the writer that had just taken it is
 * cancelled. A frame refused at the door is withdrawn by its sender, which is told directly.
 *
 * [undelivered] says why a frame the channel drops was not written (the client stopped, or its connection closed).
 */
internal class SendQueue(
    val capacity: Int,
    private val telemetry: Telemetry,
    private val undelivered: () -> ParleyException,
) {
    private val channel = Channel<Outbound>(capacity) { it.fail(undelivered()) }

    /** What the writer reads. */
    val frames: ReceiveChannel<Outbound> get() = channel

    /** Queues [out] if there is room: `true`; `false` if full; ClientStoppedException once stopped. */
    fun offer(out: Outbound, stopReason: StopReason?): Boolean {
        val result = channel.trySend(out)
        if (result.isClosed) throw ClientStoppedException(stopReason)
        return result.isSuccess
    }

    /**
     * Waits for room and queues [out]. Waiting senders are counted apart, so the published depth never exceeds the
     * capacity. A channel cancelled because the client stopped ends the wait with a CancellationException, which the
     * caller turns into ClientStoppedException (see ClientHandle).
     */
    suspend fun send(out: Outbound) {
        telemetry.sendersWaiting.incrementAndGet()
        try {
            channel.send(out)
        } finally {
            telemetry.sendersWaiting.decrementAndGet()
        }
    }

    /** Fails every frame still queued with [cause] (nobody will write them); returns how many. */
    fun failQueued(cause: Throwable): Int {
        var count = 0
        while (true) {
            val out = channel.tryReceive().getOrNull() ?: return count
            out.fail(cause)
            count++
        }
    }

    /** The client stopped: fail what is queued and refuse what comes, waking senders that wait for room. */
    fun close() {
        channel.cancel()
    }
}
