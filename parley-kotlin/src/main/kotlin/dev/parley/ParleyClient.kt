package dev.parley

import dev.parley.internal.ConnectionLoop
import dev.parley.internal.IncomingHandler
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
 * ## Calling the client from inside its own callbacks
 * Everything works from inside a [ParleyHandler] callback (or a coroutine it starts), but a callback cannot wait for
 * what only happens after it returns, so there:
 * - [connect], [disconnect], [stop] and [cancel] *request* and return at once; the client acts on the request as soon
 *   as the callback returns (a stop stops it before any further callback).
 * - [send] works and returns once the frame is written; inside [ParleyHandler.onConnect] the frame goes out ahead of
 *   frames queued while connecting, like a [HandlerAction.Push].
 * - *Blocking* the client's thread inside a callback (`runBlocking { client.send(..) }`) cannot work, since the
 *   client's writer needs that thread: [send], [enqueue], [connect] and [disconnect] then throw
 *   `IllegalStateException` at once instead of deadlocking. [trySend], [tell], [metrics] and [state] never wait.
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
     * scheduled with the delay, heartbeat timeout, frame dropped, handler failure, stopped. A hot flow that replays the
     * latest event to a new collector, then delivers what happens from then on; see [ParleyEvent] for its bounds.
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
     * Queues [frame] in order and suspends only while the queue is full (with [SendOverflow.SUSPEND]; with
     * [SendOverflow.FAIL] a full queue throws at once); returns the outcome of the write without waiting for it. The
     * returned `Deferred` completes when the frame has been written, or exceptionally with the exceptions of [send];
     * a frame that fails is also counted in [ParleyMetrics.framesDropped] and reported as [ParleyEvent.FrameDropped],
     * as for [trySend], since its sender did not wait for it. Frames enqueued one after another by one coroutine are
     * written in that order.
     *
     * @throws NotConnectedException, SendQueueFullException or ClientStoppedException as [send] does, if the frame
     *   could not be queued.
     */
    public suspend fun enqueue(frame: Frame): Deferred<Unit>

    /**
     * Queues [frame] without suspending and reports what happened. A frame that is queued but later cannot be written
     * completes [SendResult.Enqueued.written] exceptionally, with the same exceptions as [send], is counted in
     * [ParleyMetrics.framesDropped] and is reported as [ParleyEvent.FrameDropped].
     */
    public fun trySend(frame: Frame): SendResult

    /**
     * Connects now if disconnected (cancelling a pending backoff delay) and suspends until [ConnectionState.Connected].
     * Returns at once if already connected; if connecting, the running attempt is its answer (even if that connection
     * has ended again by the time the client reads the request: no second connection is opened for it). During a close
     * handshake, it connects again once the handshake ends.
     *
     * @throws ConnectFailedException if the attempt fails (the client stays alive, and may retry per its policy).
     * @throws ClientStoppedException if the client is stopped.
     */
    public suspend fun connect()

    /**
     * Closes the connection with the close handshake and suspends until [ConnectionState.Disconnected]: our close frame
     * carries [code] and [reason], and the socket is aborted if the peer has not answered within
     * [ParleyOptions.closeTimeout]. Messages the peer sends before its answering close still reach the handler, and
     * [DisconnectReason.ClosedLocally] carries the code and reason of that answer. The client stays alive, does not
     * reconnect by itself, and [connect] brings it back. Idempotent; cancels a pending reconnect or a running attempt.
     *
     * @throws IllegalArgumentException if [code] may not be sent ([CloseCodes.isSendable]) or [reason] is longer than
     *   123 bytes in UTF-8.
     */
    public suspend fun disconnect(code: Int = CloseCodes.NORMAL, reason: String = "")

    /**
     * Stops the client for good and suspends until [ConnectionState.Stopped]: a connected socket gets a close frame
     * (1001, going away) and is released without waiting for the peer (the close frame gets up to a second to leave
     * in the background); queued frames fail with [ClientStoppedException]. Idempotent.
     */
    public suspend fun stop()

    /**
     * Stops the client for good at once, without a close frame: the socket is dropped (the peer sees the TCP
     * connection end), queued frames fail with [ClientStoppedException], and the state becomes
     * [ConnectionState.Stopped] with [StopReason.Aborted]. Suspends until then. For a peer that must not be waited
     * for; prefer [stop]. Idempotent.
     */
    public suspend fun cancel()

    /**
     * Delivers [message] to [ParleyHandler.onInfo] on the client's coroutine, in order with other messages.
     *
     * @return `false` if the client is stopped or its mailbox for messages (as large as the send queue) is full; then
     *   the message is not delivered. A full mailbox never delays [stop], [connect] or [disconnect].
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

/**
 * A client used without a handler: whole inbound messages arrive on [incoming] instead, and everything else is as
 * [ParleyClient]. Start one with [startParley] or [Parley.start] without a handler.
 */
public interface ParleyConnection : ParleyClient {
    /**
     * Every whole message the peer sends ([Frame.Text] or [Frame.Binary], reassembled and validated), in order, across
     * reconnections; pings and pongs are answered or consumed by the client and do not appear. Collect it once: each
     * message goes to one collector. It completes when the client stops, after the messages received before.
     *
     * It pushes back: messages are held for a collector that lags (64, then up to [ParleyOptions.maxPendingCallbacks]
     * more), and beyond that the client stops reading, so the socket slows the peer down instead of filling memory.
     */
    public val incoming: Flow<Frame>
}

private class IncomingClient(
    client: ParleyClient,
    override val incoming: Flow<Frame>,
) : ParleyConnection,
    ParleyClient by client

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

    /**
     * Starts a standalone client without a handler: messages arrive on [ParleyConnection.incoming]. As the other
     * [start]; call [ParleyClient.stop] when done.
     *
     * @throws IllegalArgumentException for invalid [options].
     */
    public fun start(options: ParleyOptions): ParleyConnection = connection(parent = null, options)

    internal fun connection(parent: CoroutineScope?, options: ParleyOptions): ParleyConnection {
        val handler = IncomingHandler(options.maxBufferedInboundBytes)
        return IncomingClient(ConnectionLoop.start(parent, handler, Unit, options), handler.incoming)
    }
}

/**
 * Starts a client linked to this scope (Parley's `start_link`): it is a child of the scope's job, so cancelling the
 * scope stops the client, and a client that fails (a handler throws, reconnection gives up) fails the scope with
 * that exception (a `CancellationException` thrown by a handler, which could not fail a scope, arrives wrapped in an
 * `IllegalStateException`). It connects in the background; this returns at once.
 */
public fun <S> CoroutineScope.startParley(
    handler: ParleyHandler<S>,
    initialState: S,
    options: ParleyOptions,
): ParleyClient = ConnectionLoop.start(parent = this, handler, initialState, options)

/**
 * Starts a client without a handler, linked to this scope as the other [startParley]: messages arrive on
 * [ParleyConnection.incoming].
 */
public fun CoroutineScope.startParley(options: ParleyOptions): ParleyConnection = Parley.connection(this, options)
