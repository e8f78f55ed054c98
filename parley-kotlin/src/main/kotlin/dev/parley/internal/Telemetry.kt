package dev.parley.internal

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.LatencyStats
import dev.parley.ParleyEvent
import dev.parley.ParleyException
import dev.parley.ParleyMetrics
import dev.parley.internal.transport.WireFrame
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.MutableSharedFlow
import org.HdrHistogram.ShortCountsHistogram
import org.slf4j.Logger
import java.time.Instant
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration
import kotlin.time.Duration.Companion.microseconds
import kotlin.time.Duration.Companion.nanoseconds

/** A monotonic clock in nanoseconds; injectable so that heartbeat and metrics timing can run on virtual time. */
internal fun interface Clock {
    fun nanos(): Long

    companion object {
        val SYSTEM = Clock { System.nanoTime() }
    }
}

/** Where the fate of user frames is recorded: the queue depth, and frames nobody awaited that were dropped. */
internal interface SendBook {
    fun settled()

    fun dropped(frame: WireFrame, cause: Throwable)
}

/**
 * A client's counters, latency window and event stream. Hot-path updates are single atomic increments; readers from
 * any thread ([snapshot]) read atomics and one volatile, and never wait on the connection.
 */
internal class Telemetry(
    private val sendQueueCapacity: Int,
    private val clock: Clock,
    private val log: Logger,
) : SendBook {
    val framesSent = AtomicLong()
    val bytesSent = AtomicLong()
    val framesReceived = AtomicLong()
    val bytesReceived = AtomicLong()
    val queueDepth = AtomicInteger()
    val totalReconnects = AtomicLong()
    val missedPongs = AtomicLong()

    /** [Clock.nanos] of the last inbound frame, written by the session's reader: the heartbeat's proof of life. */
    @Volatile
    var lastInboundNanos: Long = clock.nanos()

    @Volatile
    private var stateSinceNanos: Long = clock.nanos()

    @Volatile
    var connectedSince: Instant? = null

    @Volatile
    private var latency: LatencyStats = LatencyStats.EMPTY
    private val window = LatencyWindow()

    /**
     * Lifecycle events. Emitting never suspends the connection: a collector that falls more than 256 events behind
     * loses the oldest.
     */
    val events =
        MutableSharedFlow<ParleyEvent>(extraBufferCapacity = 256, onBufferOverflow = BufferOverflow.DROP_OLDEST)

    fun emit(event: ParleyEvent) {
        events.tryEmit(event)
    }

    fun sent(payloadBytes: Int) {
        framesSent.incrementAndGet()
        bytesSent.addAndGet(payloadBytes.toLong())
    }

    fun received(payloadBytes: Int) {
        framesReceived.incrementAndGet()
        bytesReceived.addAndGet(payloadBytes.toLong())
        lastInboundNanos = clock.nanos()
    }

    fun stateChanged() {
        stateSinceNanos = clock.nanos()
    }

    /** Called by the loop only (it owns [window]). */
    fun recordRoundTrip(rtt: Duration) {
        latency = window.record(rtt)
    }

    override fun settled() {
        queueDepth.decrementAndGet()
    }

    override fun dropped(frame: WireFrame, cause: Throwable) {
        log.warn("frame not sent ({}): {}", frame, cause.message)
        if (cause is ParleyException) emit(ParleyEvent.FrameDropped(cause))
    }

    fun snapshot(state: ConnectionState, reconnectAttempts: Int, lastDisconnect: DisconnectReason?): ParleyMetrics =
        ParleyMetrics(
            state = state,
            timeInState = (clock.nanos() - stateSinceNanos).coerceAtLeast(0).nanoseconds,
            connectedSince = connectedSince.takeIf { state is ConnectionState.Connected },
            reconnectAttempts = reconnectAttempts,
            totalReconnects = totalReconnects.get(),
            framesSent = framesSent.get(),
            bytesSent = bytesSent.get(),
            framesReceived = framesReceived.get(),
            bytesReceived = bytesReceived.get(),
            sendQueueDepth = queueDepth.get().coerceAtLeast(0),
            sendQueueCapacity = sendQueueCapacity,
            missedPongs = missedPongs.get(),
            lastDisconnectReason = lastDisconnect,
            latency = latency,
        )
}

/**
 * Round-trip times over a bounded window: samples go to a current histogram that, once it holds [WINDOW] samples,
 * becomes the previous one; statistics cover both. Histograms are made on the first sample, since most clients never
 * measure latency, and use 2-byte counts (a window never exceeds 2,048 samples) at 2 significant digits.
 */
private class LatencyWindow {
    private var current: ShortCountsHistogram? = null
    private var previous: ShortCountsHistogram? = null
    private var count = 0L
    private var total = Duration.ZERO

    fun record(rtt: Duration): LatencyStats {
        val micros = rtt.inWholeMicroseconds.coerceAtLeast(1)
        val histogram = current ?: ShortCountsHistogram(SIGNIFICANT_DIGITS).also { current = it }
        if (histogram.totalCount >= WINDOW) {
            previous = histogram
            current = ShortCountsHistogram(SIGNIFICANT_DIGITS)
        }
        current!!.recordValue(micros)
        count++
        total += rtt
        val both = current!!.copy().also { merged -> previous?.let { merged.add(it) } }
        fun at(percentile: Double) = both.getValueAtPercentile(percentile).microseconds
        return LatencyStats(
            count = count,
            total = total,
            last = rtt,
            min = both.minValue.microseconds,
            p50 = at(50.0),
            p90 = at(90.0),
            p99 = at(99.0),
            max = both.maxValue.microseconds,
        )
    }

    companion object {
        const val WINDOW = 1024L
        const val SIGNIFICANT_DIGITS = 2
    }
}
