package dev.parley

import kotlin.time.Duration

/**
 * Something that happened to a client, published on [ParleyClient.events] for logging and alerting without a handler.
 *
 * [ParleyClient.state] says what *is*; events say what *happened*, including what a conflating `StateFlow` skips.
 * Emitting never waits for a collector: one that falls more than 1,024 events behind loses the oldest. Lifecycle
 * events (all but [FrameDropped] and [HeartbeatAnswered]) are a handful per connection, so that takes a collector that
 * has stalled; at most 256 [FrameDropped] events are emitted per connection attempt, so a burst of them cannot push
 * lifecycle events out (every dropped frame is counted in [ParleyMetrics.framesDropped]), and [HeartbeatAnswered]
 * comes at most once per heartbeat interval. A new collector first receives the latest event, so it learns how the
 * client got to where it is (the first [Connecting], for one that subscribes right after start; on a quiet connection
 * with a heartbeat, the latest [HeartbeatAnswered]).
 */
public sealed class ParleyEvent {
    /** An attempt to connect began; [attempt] as in [ConnectionState.Connecting]. */
    public data class Connecting(
        val attempt: Int,
    ) : ParleyEvent()

    /** The upgrade completed; [connection] numbers it as [ConnectionState.Connected.connection] does. */
    public data class Connected(
        val subprotocol: String?,
        val connection: Long = 0,
    ) : ParleyEvent() {
        /**
         * How long the attempt that opened this connection took, from its start ([Connecting]) to the completed
         * upgrade: DNS, TCP, TLS and the HTTP upgrade, not [ParleyHandler.onConnect]. A measurement, so it takes no
         * part in `equals`, `hashCode` or `copy`; [Duration.ZERO] in an event not made by a client.
         */
        public var connectTime: Duration = Duration.ZERO
            private set

        internal constructor(subprotocol: String?, connection: Long, connectTime: Duration) :
            this(subprotocol, connection) {
            this.connectTime = connectTime
        }
    }

    /** A connection or an attempt ended. */
    public data class Disconnected(
        val reason: DisconnectReason,
    ) : ParleyEvent()

    /** The next attempt will start after [delay]; it is reconnect attempt number [attempt] (from 1) in a row. */
    public data class ReconnectScheduled(
        val delay: Duration,
        val attempt: Int,
    ) : ParleyEvent()

    /**
     * The heartbeat's ping was answered by its pong after [roundTrip] (from writing the ping to reading the pong). The
     * same sample goes into [ParleyMetrics.latency]; this is for recording each one, e.g. in a histogram.
     */
    public data class HeartbeatAnswered(
        val roundTrip: Duration,
    ) : ParleyEvent()

    /** The heartbeat saw no pong and no other frame within [pongTimeout] of a ping; the connection is being dropped. */
    public data class HeartbeatTimedOut(
        val pongTimeout: Duration,
    ) : ParleyEvent()

    /**
     * A frame given to [ParleyClient.trySend] was queued but could not be written. (Callers of
     * [ParleyClient.send] are told by the exception; this is for the frames nobody waits on.)
     */
    public data class FrameDropped(
        val cause: ParleyException,
    ) : ParleyEvent()

    /** A handler callback threw; the client stops. */
    public data class HandlerFailed(
        val cause: Throwable,
    ) : ParleyEvent()

    /** The client stopped; no further event follows. */
    public data class Stopped(
        val reason: StopReason,
    ) : ParleyEvent()
}
