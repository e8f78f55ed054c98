package dev.parley

import dev.parley.internal.ConnectionLoop
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.StateFlow

/**
 * A WebSocket client that keeps one connection alive: it connects in the background, queues frames sent while it
 * connects, answers pings, runs the close handshake, and reconnects with backoff when [ParleyOptions.reconnect] says
 * so. Start one with [startParley] (linked to a scope) or [Parley.start] (standalone).
 *
 * ## Thread safety
 * Every member may be called from any thread or coroutine. One coroutine owns the connection and calls the
 * [ParleyHandler] one callback at a time.
 *
 * ## Lifecycle
 * A client lives until [stop], until a handler stops it, until reconnection gives up, or until the scope it is linked
 * to is cancelled; then [state] is [ConnectionState.Stopped] and its socket and coroutines are released. A standalone
 * client must be stopped by its owner.
 */
public interface ParleyClient {
    /** The client's name from [ParleyOptions.name], used in logs and coroutine names. */
    public val name: String

    /** The current [ConnectionState]. It never completes; it ends at [ConnectionState.Stopped]. */
    public val state: StateFlow<ConnectionState>

    /**
     * What happens to the client, as it happens: connecting, connected, disconnected with the reason, reconnect
     * scheduled with the delay, heartbeat timeout, frame dropped, handler failure, stopped. A hot flow: collectors see
     * events from when they start; one that falls more than 256 events behind loses the oldest.
     */
    public val events: Flow<ParleyEvent>

    /** A snapshot of health and traffic counters; cheap, never waits on the connection. */
    public fun metrics(): ParleyMetrics

    /**
     * Sends [frame] and suspends until it has been written and flushed to the connection.
     *
     * While [ConnectionState.Connecting] the frame is queued and written after the upgrade, after any frame that
     * [ParleyHandler.onConnect] pushes. "Written" means handed to the operating system's socket, not received by the
     * peer.
     *
     * ## Cancellation
     * Cancelling the caller while the frame is still queued withdraws nothing: the frame may still be written.
     *
     * @throws NotConnectedException while [ConnectionState.Disconnected].
     * @throws SendQueueFullException if the queue is full and [ParleyOptions.sendOverflow] is [SendOverflow.FAIL].
     * @throws ConnectionClosedException if the connection closed or its attempt failed before the frame was written.
     * @throws ClientStoppedException if the client is stopped.
     */
    public suspend fun send(frame: Frame)

    /**
     * Queues [frame] without suspending and reports what happened. A frame that is queued but later cannot be written
     * completes [SendResult.Enqueued.written] exceptionally, with the same exceptions as [send], and is logged at WARN.
     */
    public fun trySend(frame: Frame): SendResult

    /**
     * Connects now if disconnected (cancelling a pending backoff delay) and suspends until [ConnectionState.Connected].
     * Returns at once if already connected; waits for the running attempt if connecting.
     *
     * @throws ConnectFailedException if the attempt fails (the client stays alive, and may retry per its policy).
     * @throws ClientStoppedException if the client is stopped.
     */
    public suspend fun connect()

    /**
     * Closes the connection with the close handshake and suspends until [ConnectionState.Disconnected]: our close frame
     * carries [code] and [reason], and the socket is aborted if the peer has not answered within
     * [ParleyOptions.closeTimeout]. The client stays alive, does not reconnect by itself, and [connect] brings it back.
     * Idempotent; cancels a pending reconnect or a running attempt.
     *
     * @throws IllegalArgumentException if [code] may not be sent ([CloseCodes.isSendable]) or [reason] is longer than
     *   123 bytes in UTF-8.
     */
    public suspend fun disconnect(code: Int = CloseCodes.NORMAL, reason: String = "")

    /**
     * Stops the client for good and suspends until [ConnectionState.Stopped]: a connected socket gets a close frame
     * (1001, going away) and is then released without waiting; queued frames fail with [ClientStoppedException].
     * Idempotent.
     */
    public suspend fun stop()

    /**
     * Delivers [message] to [ParleyHandler.onInfo] on the client's coroutine, in order with other messages.
     *
     * @return `false` if the client is stopped or its mailbox (as large as the send queue) is full; then the message
     *   is not delivered.
     */
    public fun tell(message: Any): Boolean
}

/** The outcome of [ParleyClient.trySend]. */
public sealed class SendResult {
    /**
     * The frame is queued.
     *
     * @property written completes when the frame has been written, or exceptionally if it could not be.
     */
    public class Enqueued internal constructor(
        public val written: Deferred<Unit>,
    ) : SendResult()

    /**
     * The frame was not queued.
     *
     * @property cause why: [NotConnectedException], [SendQueueFullException] or [ClientStoppedException].
     */
    public class Rejected internal constructor(
        public val cause: ParleyException,
    ) : SendResult()
}

/** Entry points for standalone clients. */
public object Parley {
    /**
     * Starts a standalone client (its own supervisor job, like Parley's `start`): it connects in the background at
     * once, and this returns without waiting. Failures end in [ConnectionState.Stopped] and are visible only there.
     * Call [ParleyClient.stop] when done.
     *
     * @throws IllegalArgumentException for invalid [options].
     */
    public fun <S> start(handler: ParleyHandler<S>, initialState: S, options: ParleyOptions): ParleyClient =
        ConnectionLoop.start(parent = null, handler, initialState, options)
}

/**
 * Starts a client linked to this scope (Parley's `start_link`): it is a child of the scope's job, so cancelling the
 * scope stops the client, and a client that fails (a handler throws, reconnection gives up) fails the scope with
 * that exception. It connects in the background; this returns at once.
 */
public fun <S> CoroutineScope.startParley(
    handler: ParleyHandler<S>,
    initialState: S,
    options: ParleyOptions,
): ParleyClient = ConnectionLoop.start(parent = this, handler, initialState, options)
