package dev.parley.internal

import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.LatencyStats
import dev.parley.ParleyEvent
import dev.parley.ParleyException
import dev.parley.ParleyMetrics
import dev.parley.transport.WireFrame
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.asSharedFlow
import java.time.Instant
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration
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
    private val log: ClientLog,
) : SendBook {
    val framesSent = AtomicLong()
    val bytesSent = AtomicLong()
    val framesReceived = AtomicLong()
    val bytesReceived = AtomicLong()
    val queueDepth = AtomicInteger()

    /** Senders waiting for room in a full queue: counted in [queueDepth] too, and subtracted when published. */
    val sendersWaiting = AtomicInteger()
    val totalReconnects = AtomicLong()
    val missedPongs = AtomicLong()
    val droppedPongs = AtomicLong()
    val framesDropped = AtomicLong()

    /** Data frames the send gate refused, and those whose senders it made wait: every one, past the event cap too. */
    val sendsRateLimited = AtomicLong()
    val sendsDelayed = AtomicLong()

    /** Callbacks that returned [dev.parley.HandlerAction.Later] and whose results are still outstanding. */
    val pendingCallbacks = AtomicInteger()

    /** The number of the current or last connection (1 for the first), 0 before any. */
    @Volatile
    var connection: Long = 0

    /** [Clock.nanos] of the last inbound frame, written by the session's reader: the heartbeat's proof of life. */
    @Volatile
    var lastInboundNanos: Long = clock.nanos()

    /** [Clock.nanos] of the latest heartbeat ping (protocol or app), written by the loop; 0 before the first. */
    @Volatile
    var pingSentNanos: Long = 0

    /**
     * How long the latest heartbeat ping has gone without anything heard back, or `null` when something arrived since
     * (or no ping was sent): how a pool tells a stalled server from a quiet one.
     */
    fun unansweredPing(): Duration? {
        val sent = pingSentNanos
        if (sent == 0L || lastInboundNanos - sent > 0) return null
        return (clock.nanos() - sent).coerceAtLeast(0).nanoseconds
    }

    @Volatile
    private var stateSinceNanos: Long = clock.nanos()

    @Volatile
    var connectedSince: Instant? = null

    @Volatile
    private var latency: LatencyStats = LatencyStats.EMPTY
    private val window = LatencyWindow()

    /**
     * What happens to the client. Emitting never suspends the connection. Lifecycle events are a handful per
     * connection, so a buffer of [EVENT_BUFFER] is not outrun in practice; frames that could not be written can come by
     * the thousand (a failed connection with a full queue), so at most [DROP_EVENTS_PER_CONNECTION] of them per
     * connection become events (all are counted in [framesDropped]) and they cannot push lifecycle events out. The
     * latest event is replayed to a new collector, so it learns how the client got where it is.
     */
    val flow =
        MutableSharedFlow<ParleyEvent>(
            replay = 1,
            extraBufferCapacity = EVENT_BUFFER,
            onBufferOverflow = BufferOverflow.DROP_OLDEST,
        )

    /** FrameDropped events emitted for the current connection. */
    private val dropEvents = AtomicInteger()

    val events: Flow<ParleyEvent> = flow.asSharedFlow()

    /** Request, subscription and send gate events emitted for the current connection, each family counted apart. */
    val requestEvents = AtomicInteger()
    val subscriptionEvents = AtomicInteger()
    val gateEvents = AtomicInteger()

    fun emit(event: ParleyEvent) {
        if (event is ParleyEvent.Connecting) {
            dropEvents.set(0)
            requestEvents.set(0)
            subscriptionEvents.set(0)
            gateEvents.set(0)
        }
        flow.tryEmit(event)
    }

    /** Emits the event [make] builds unless [family] has had its [CAPPED_EVENTS_PER_CONNECTION] this connection. */
    inline fun emitCapped(family: AtomicInteger, make: () -> ParleyEvent) {
        if (family.incrementAndGet() <= CAPPED_EVENTS_PER_CONNECTION) flow.tryEmit(make())
    }

    /**
     * [emitCapped] for the events that can come at the rate of sends: while nobody collects, the event is not even
     * built (and does not count against the cap), so an unobserved client pays one volatile read for it.
     */
    inline fun emitIfObserved(family: AtomicInteger, make: () -> ParleyEvent) {
        if (collectors.value > 0) emitCapped(family, make)
    }

    /** Taken once: the flow's subscriptionCount getter locks the flow each time it is called. */
    val collectors = flow.subscriptionCount

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
        window.record(rtt)
        latency = window.stats()
        lastHeartbeatAnsweredAt = Instant.now()
        consecutiveMissedHeartbeats.set(0)
    }

    /** A heartbeat found the connection dead. */
    fun heartbeatMissed() {
        missedPongs.incrementAndGet()
        consecutiveMissedHeartbeats.incrementAndGet()
    }

    @Volatile
    private var lastHeartbeatAnsweredAt: Instant? = null
    private val consecutiveMissedHeartbeats = AtomicInteger()

    override fun settled() {
        queueDepth.decrementAndGet()
    }

    override fun dropped(frame: WireFrame, cause: Throwable) {
        framesDropped.incrementAndGet()
        log.debug("frame not sent ({}): {}", frame, cause.message)
        if (cause is ParleyException && dropEvents.incrementAndGet() <= DROP_EVENTS_PER_CONNECTION) {
            flow.tryEmit(ParleyEvent.FrameDropped(cause))
        }
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
            sendQueueDepth = (queueDepth.get() - sendersWaiting.get()).coerceIn(0, sendQueueCapacity),
            sendQueueCapacity = sendQueueCapacity,
            missedPongs = missedPongs.get(),
            lastDisconnectReason = lastDisconnect,
            latency = latency,
            connection = connection,
            sendersWaiting = sendersWaiting.get().coerceAtLeast(0),
            framesDropped = framesDropped.get(),
            droppedPongs = droppedPongs.get(),
            pendingCallbacks = pendingCallbacks.get().coerceAtLeast(0),
            lastHeartbeatAnsweredAt = lastHeartbeatAnsweredAt,
            consecutiveMissedHeartbeats = consecutiveMissedHeartbeats.get(),
            sendsRateLimited = sendsRateLimited.get(),
            sendsDelayed = sendsDelayed.get(),
            sinceLastInbound = (clock.nanos() - lastInboundNanos).coerceAtLeast(0).nanoseconds
                // lastInboundNanos is also stamped when a connection opens; it means "a frame arrived" only after one.
                .takeIf { framesReceived.get() > 0 },
        )

    companion object {
        private const val EVENT_BUFFER = 1024
        private const val DROP_EVENTS_PER_CONNECTION = 256

        /** The cap of each family of request, subscription and send gate events, per connection. */
        const val CAPPED_EVENTS_PER_CONNECTION = 256
    }
}
