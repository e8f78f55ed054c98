package dev.parley.internal

import dev.parley.Frame
import kotlinx.coroutines.channels.Channel
import java.util.concurrent.atomic.AtomicLong

/**
 * Bounds the memory of received messages held for the handler, in bytes: those read but not yet handled, and those
 * whose callbacks finish later. The reader [acquire]s a message's [charge] before handing it on, waiting while the
 * budget is spent, so a peer that floods the client is pushed back through TCP however small or large its messages;
 * whoever is done with a message [release]s its charge.
 *
 * A message larger than the whole budget still passes once nothing else is held, so no message that `maxFrameSize`
 * admits can wedge the reader. One reader waits at a time (the session's); releases may come from any thread.
 *
 * Whoever releases must be told when a reader waits: the loop, for one, settles a later result (and so releases its
 * charge) only when it wakes up, and a result that completes with nothing to do does not wake it unless
 * [readerWaiting]. [onWait] is called once a reader is about to wait, after [readerWaiting] is set, so a release
 * that happened just before is not missed either.
 */
internal class InboundBudget(
    private val limit: Long,
    private val onWait: () -> Unit = {},
) {
    private val used = AtomicLong()

    /** Rung on every release, so a waiting reader looks again. */
    private val released = Channel<Unit>(Channel.CONFLATED)

    /** Whether a reader is waiting for room. */
    @Volatile
    var readerWaiting: Boolean = false
        private set

    /** Takes [bytes] at once if they fit; `false` if the budget is spent. */
    fun tryAcquire(bytes: Long): Boolean {
        while (true) {
            val now = used.get()
            if (now > 0 && now + bytes > limit) return false
            if (used.compareAndSet(now, now + bytes)) return true
        }
    }

    /** Takes [bytes], waiting until they fit (or nothing else is held). */
    suspend fun acquire(bytes: Long) {
        if (tryAcquire(bytes)) return
        readerWaiting = true
        try {
            onWait()
            while (!tryAcquire(bytes)) released.receive()
        } finally {
            readerWaiting = false
        }
    }

    fun release(bytes: Long) {
        if (bytes == 0L) return
        used.addAndGet(-bytes)
        // Rung only for a waiting reader: it sets the flag before it looks at [used] again, so either it sees this
        // release there or this sees the flag (both are volatile accesses).
        if (readerWaiting) released.trySend(Unit)
    }

    companion object {
        /**
         * What holding a message of [payloadBytes] costs: its bytes and the objects around them (the frame, its array
         * or string, the report to the loop). Charging the objects too keeps a flood of tiny frames bounded as well.
         */
        fun charge(payloadBytes: Int): Long = payloadBytes + PER_MESSAGE_OVERHEAD

        /** What holding [frame] costs: its text's length or its bytes, as for [charge]. */
        fun charge(frame: Frame): Long = charge(
            when (frame) {
                is Frame.Text -> frame.text.length
                is Frame.Binary -> frame.bytes.size
                is Frame.Ping -> frame.payload.size
                is Frame.Pong -> frame.payload.size
            },
        )

        private const val PER_MESSAGE_OVERHEAD = 96L
    }
}
