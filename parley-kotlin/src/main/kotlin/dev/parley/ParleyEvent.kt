package dev.parley

import kotlin.time.Duration

/**
 * Something that happened to a client, published on [ParleyClient.events] for logging and alerting without a handler.
 *
 * [ParleyClient.state] says what *is*; events say what *happened*, including what a conflating `StateFlow` skips.
 */
public sealed class ParleyEvent {
    /** An attempt to connect began; [attempt] as in [ConnectionState.Connecting]. */
    public data class Connecting(
        val attempt: Int,
    ) : ParleyEvent()

    /** The upgrade completed. */
    public data class Connected(
        val subprotocol: String?,
    ) : ParleyEvent()

    /** A connection or an attempt ended. */
    public data class Disconnected(
        val reason: DisconnectReason,
    ) : ParleyEvent()

    /** The next attempt will start after [delay]; it is reconnect attempt number [attempt] (from 1) in a row. */
    public data class ReconnectScheduled(
        val delay: Duration,
        val attempt: Int,
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
