package dev.parley.bench

import org.HdrHistogram.Histogram
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong

/**
 * Callback-driven echo, the way request/response and echo applications use a WebSocket: the driver's thread sends
 * one message to start; from then on every message is sent from inside the library's receive callback, through the
 * [Reply] the adapter passes in, as the answer to an echo. Each echo is answered with one message, plus a second one
 * while fewer than `window` are in flight, so the window fills from the callbacks themselves (a full window from the
 * driver's thread would race the callbacks' sends, which the JDK client does not allow). With `window` 1 it measures
 * round trips: the time from the send in one callback to the callback for its echo.
 *
 * The same code runs for every library; only the adapter between [Responder] and the library differs.
 */
internal class CallbackEchoes(
    private val binary: Boolean,
    private val size: Int,
    private val window: Int,
    /** Text messages to send in turn instead of `size` x's, each [size] chars long (the JSON workloads). */
    private val texts: List<String> = listOf("x".repeat(size)),
) : Responder {
    init {
        require(texts.all { it.length == size }) { "every text must be $size chars" }
    }

    /** As in the pipelined workloads: a slot is reused only after the frame sent from it has come back. */
    private val slots = Array(window) { ByteArray(size) { i -> i.toByte() } }
    private val wrong = AtomicLong()

    @Volatile
    private var phase: Phase? = null

    /**
     * One run of the chain. Callbacks on one connection never overlap, but may run on different threads one after
     * another (coroutine dispatchers), so the counters are volatile; every client pays the same for that.
     */
    private class Phase(
        val count: Long,
        val limitNanos: Long,
        val histogram: Histogram?,
    ) {
        val start = System.nanoTime()

        @Volatile var sent = 0L

        @Volatile var received = 0L

        @Volatile var sentAt = 0L

        @Volatile var stopped = false

        @Volatile var end = 0L

        @Volatile var failure: Throwable? = null
        val done = CountDownLatch(1)
    }

    override fun onMessage(binary: Boolean, size: Int, reply: Reply) {
        val ph = phase
        if (ph == null) {
            wrong.incrementAndGet()
            return
        }
        val now = System.nanoTime()
        if (binary != this.binary || size != this.size) wrong.incrementAndGet()
        ph.histogram?.recordValue(now - ph.sentAt)
        val received = ph.received + 1
        ph.received = received
        try {
            if (!ph.stopped && (ph.sent >= ph.count || now - ph.start >= ph.limitNanos)) ph.stopped = true
            if (!ph.stopped) {
                var n = if (ph.sent - received < window - 1) 2 else 1
                while (n-- > 0 && ph.sent < ph.count) {
                    val i = ph.sent
                    ph.sent = i + 1
                    ph.sentAt = System.nanoTime()
                    send(reply, i)
                }
            }
        } catch (e: Throwable) {
            // A send the library refused inside its own callback: end the run with that, not with a 30 s timeout.
            ph.failure = e
            ph.stopped = true
            ph.done.countDown()
            return
        }
        if (ph.stopped && received == ph.sent) {
            ph.end = now
            ph.done.countDown()
        }
    }

    private fun send(to: Reply, i: Long) {
        if (binary) to.sendBinary(slots[(i % window).toInt()]) else to.sendText(texts[(i % texts.size).toInt()])
    }

    /**
     * Runs the chain until [count] messages were sent or [millis] have passed, and every echo is back; records round
     * trips in [histogram] if given (window 1 only). Returns how many were sent and the nanoseconds it took.
     */
    fun run(conn: Conn, count: Long, millis: Long, histogram: Histogram?): Pair<Long, Long> {
        require(count > 0 && (histogram == null || window == 1))
        val ph = Phase(count, TimeUnit.MILLISECONDS.toNanos(millis), histogram) // toNanos saturates: no limit
        phase = ph
        ph.sent = 1
        ph.sentAt = System.nanoTime()
        send(conn, 0)
        var seen = -1L
        var idleSince = System.nanoTime()
        while (!ph.done.await(1, TimeUnit.SECONDS)) {
            val now = System.nanoTime()
            if (ph.received != seen) {
                seen = ph.received
                idleSince = now
            }
            check(now - idleSince < TIMEOUT_NANOS) { "no echo for 30 s (${ph.received} of ${ph.sent} back)" }
        }
        ph.failure?.let { throw IllegalStateException("send from the receive callback failed: $it", it) }
        phase = null
        return ph.sent to ph.end - ph.start
    }

    fun check() {
        check(wrong.get() == 0L) { "${wrong.get()} echoes had the wrong kind or size, or came outside a run" }
    }

    private companion object {
        val TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30)
    }
}
