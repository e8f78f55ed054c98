package dev.parley

import java.time.Instant
import kotlin.time.Duration

/**
 * A snapshot of a client's health and traffic, from [ParleyClient.metrics]. Counters are totals since the client
 * started, across reconnections. Taking one reads a few atomic fields and never waits on the connection.
 *
 * @property state the state at the time of the snapshot.
 * @property timeInState how long the client has been in [state].
 * @property connectedSince when the current connection opened (wall clock), or `null` when not connected.
 * @property reconnectAttempts reconnect attempts in a row since the last stable connection.
 * @property totalReconnects connections opened after the first one.
 * @property framesSent frames written (data and control), [bytesSent] their payload bytes.
 * @property framesReceived frames read (data and control, before reassembly), [bytesReceived] their payload bytes.
 * @property sendQueueDepth frames in the send queue, not yet written or failed (never above [sendQueueCapacity], the
 *   limit); senders still waiting for room are counted in [sendersWaiting] instead.
 * @property missedPongs heartbeat pings that went unanswered (each dropped a connection).
 * @property lastDisconnectReason why the last connection or attempt ended, or `null`.
 * @property latency round-trip times from heartbeat pongs.
 * @property connection the number of the current or last connection (1 for the first), 0 before any; the same
 *   number as in [ConnectionState.Connected.connection] and the `[name#n]` prefix of log lines.
 * @property sendersWaiting senders suspended until the full send queue has room.
 * @property framesDropped frames from [ParleyClient.trySend] or [ParleyClient.enqueue] that were queued but could not
 *   be written.
 * @property droppedPongs pongs not sent because the control queue was full (only the latest ping needs an answer).
 * @property sinceLastInbound time since the last frame of any kind arrived, or `null` if none has yet.
 * @property pendingCallbacks callbacks that returned [HandlerAction.Later] whose results have not completed yet (the
 *   client stops reading when [ParleyOptions.maxPendingCallbacks] results are held, completed or not).
 * @property lastHeartbeatAnsweredAt when a heartbeat ping (protocol or application-level) was last answered (wall
 *   clock), or `null` if none has been.
 * @property consecutiveMissedHeartbeats heartbeats that found the connection dead in a row, across reconnects, since
 *   the last answered one: 0 while healthy.
 * @property sendsRateLimited data frames the [SendGate] refused ([RateLimitedException]).
 * @property sendsDelayed data frames whose senders the [SendGate] made wait for their turn.
 */
public data class ParleyMetrics(
    val state: ConnectionState,
    val timeInState: Duration,
    val connectedSince: Instant?,
    val reconnectAttempts: Int,
    val totalReconnects: Long,
    val framesSent: Long,
    val bytesSent: Long,
    val framesReceived: Long,
    val bytesReceived: Long,
    val sendQueueDepth: Int,
    val sendQueueCapacity: Int,
    val missedPongs: Long,
    val lastDisconnectReason: DisconnectReason?,
    val latency: LatencyStats,
    val connection: Long = 0,
    val sendersWaiting: Int = 0,
    val framesDropped: Long = 0,
    val droppedPongs: Long = 0,
    val sinceLastInbound: Duration? = null,
    val pendingCallbacks: Int = 0,
    val lastHeartbeatAnsweredAt: Instant? = null,
    val consecutiveMissedHeartbeats: Int = 0,
    val sendsRateLimited: Long = 0,
    val sendsDelayed: Long = 0,
)

/**
 * Round-trip times measured from matched heartbeat pongs. Percentiles and extremes cover a bounded window of recent
 * samples (between 1,024 and 2,048 of the latest); [count] and [total] cover all samples, for rate-style metrics.
 * Durations are `null` until the first sample.
 */
public data class LatencyStats(
    val count: Long,
    val total: Duration,
    val last: Duration?,
    val min: Duration?,
    val p50: Duration?,
    val p90: Duration?,
    val p99: Duration?,
    val max: Duration?,
) {
    public companion object {
        /** No samples yet. */
        public val EMPTY: LatencyStats = LatencyStats(0, Duration.ZERO, null, null, null, null, null, null)
    }
}
