package dev.parley.bench

import org.HdrHistogram.Histogram
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.LockSupport

/** Counts echoes, checks their kind and size, and paces the sender. */
internal class Echoes(
    private val binary: Boolean,
    private val size: Int,
    private val window: Int,
) : Inbound {
    private val received = AtomicLong()
    private val wrong = AtomicLong()
    private val permits = Semaphore(window)

    @Volatile
    private var waiter: Thread? = null

    override fun onMessage(binary: Boolean, size: Int) {
        if (binary != this.binary || size != this.size) wrong.incrementAndGet()
        received.incrementAndGet()
        permits.release()
        waiter?.let(LockSupport::unpark)
    }

    /** Sends until [count] messages or [millis] have passed, never more than `window` ahead; waits for every echo. */
    fun pump(send: (Long) -> Unit, count: Long, millis: Long): Pair<Long, Long> {
        val start = System.nanoTime()
        val limit = TimeUnit.MILLISECONDS.toNanos(millis) // saturates: Long.MAX_VALUE ms means no time limit
        var sent = 0L
        while (sent < count && (sent % 64 != 0L || System.nanoTime() - start < limit)) {
            acquire(1)
            send(sent)
            sent++
        }
        acquire(window) // every echo is back
        permits.release(window)
        return sent to System.nanoTime() - start
    }

    /** One message at a time; records each round trip in [histogram] if given. Returns how many were made. */
    fun roundTrips(conn: Conn, text: String, count: Long, millis: Long, histogram: Histogram?): Long {
        waiter = Thread.currentThread()
        val begin = System.nanoTime()
        val limit = TimeUnit.MILLISECONDS.toNanos(millis)
        var done = 0L
        while (done < count && System.nanoTime() - begin < limit) {
            val target = received.get() + 1
            val start = System.nanoTime()
            conn.sendText(text)
            while (received.get() < target) {
                LockSupport.parkNanos(this, PARK_NANOS)
                check(System.nanoTime() - start < TIMEOUT_NANOS) { "no echo for 30 s" }
            }
            histogram?.recordValue(System.nanoTime() - start)
            done++
        }
        return done
    }

    fun check() {
        check(wrong.get() == 0L) { "${wrong.get()} echoes had the wrong kind or size" }
    }

    private fun acquire(n: Int) {
        check(permits.tryAcquire(n, 30, TimeUnit.SECONDS)) { "no echo for 30 s (${received.get()} received)" }
    }

    private companion object {
        val PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(10)
        val TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(30)
    }
}
