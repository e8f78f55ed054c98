package dev.parley

import kotlinx.coroutines.Deferred
import kotlin.time.Duration

/**
 * Your code's side of a connection: suspending callbacks that Parley calls one at a time, never concurrently, with
 * your state `S` threaded through each. Every callback has a default, so override only what you need.
 *
 * ## How callbacks run
 * - On the client's own coroutine, in order of the events that caused them. While one runs, the client reads no
 *   further frame (the socket pushes back), but sends from other coroutines still go out.
 * - A callback may suspend as long as it likes; a long one delays the next event, including the close handshake.
 * - The client's loop, reader and writer share one thread at a time. A callback that *blocks* its thread (blocking I/O,
 *   long computation) rather than suspending also stops that client's writing until it returns: run such work in
 *   `withContext(Dispatchers.IO)` or in another scope.
 * - A callback that throws stops the client with [StopReason.HandlerFailed]: the connection is closed with 1011 and
 *   [ConnectionState.Stopped] carries the exception. A client linked to a scope fails that scope too.
 * - After [ConnectionState.Stopped] no callback is called again.
 * - A callback may call its own client; see "Calling the client from inside its own callbacks" on [ParleyClient] for
 *   what returns at once there. A callback that would rather not hold up the connection returns [HandlerAction.Later].
 * - A `CancellationException` a callback throws while the client is not being cancelled (a `withTimeout` expiring, say)
 *   is a failure like any other: [StopReason.HandlerFailed].
 */
public interface ParleyHandler<S> {
    /**
     * Called once when the client starts, before the first connection attempt. The default keeps [initial].
     *
     * Return [InitResult.Stop] to stop the client before it connects.
     */
    public suspend fun init(initial: S): InitResult<S> = InitResult.Init(initial)

    /**
     * Called when the upgrade has completed. Frames pushed here are written before any frame queued while connecting.
     * Returning [HandlerAction.Disconnect] closes the connection before any queued frame is sent; queued frames fail.
     */
    public suspend fun onConnect(state: S): HandlerAction<S> = HandlerAction.Ok(state)

    /**
     * Called for each whole inbound message ([Frame.Text] or [Frame.Binary], reassembled if fragmented and validated as
     * UTF-8), and, through the default [onPong], for each [Frame.Pong].
     */
    public suspend fun onFrame(frame: Frame, state: S): HandlerAction<S> = HandlerAction.Ok(state)

    /** Called for each inbound ping, after Parley has already queued the pong with the same payload. */
    public suspend fun onPing(payload: ByteArray, state: S): HandlerAction<S> = HandlerAction.Ok(state)

    /**
     * Called for each inbound pong except those answering the heartbeat's own pings (which Parley consumes to measure
     * latency). The default hands it to [onFrame] as a [Frame.Pong], as Elixir Parley did.
     */
    public suspend fun onPong(payload: ByteArray, state: S): HandlerAction<S> = onFrame(Frame.Pong(payload), state)

    /**
     * Called for each message given to [ParleyClient.tell], in every state but [ConnectionState.Stopped]. No message
     * value is reserved by Parley. [HandlerAction.Push] works only while connected; otherwise the frames are dropped
     * with a warning in the log. [HandlerAction.Disconnect] closes the connection while connected and abandons the
     * attempt while connecting; while disconnected it only updates the state (a scheduled retry stays scheduled).
     */
    public suspend fun onInfo(message: Any, state: S): HandlerAction<S> = HandlerAction.Ok(state)

    /**
     * Called when a connection or a connection attempt ends, with the [reason]. The decision says whether to reconnect:
     * [DisconnectDecision.Default] follows [ParleyOptions.reconnect] for reasons [ParleyOptions.recoveryPolicy] calls
     * recoverable (never after [ParleyClient.disconnect]; not sooner than a server's `Retry-After`),
     * [DisconnectDecision.Reconnect] reconnects even without a policy or after a fatal reason, after the delay it
     * names or with the backoff, [DisconnectDecision.StayDisconnected] stays down until [ParleyClient.connect].
     */
    public suspend fun onDisconnect(reason: DisconnectReason, state: S): DisconnectDecision<S> =
        DisconnectDecision.Default(state)
}

/** What [ParleyHandler.init] decided. */
public sealed class InitResult<out S> {
    /** Start with [state]. */
    public data class Init<S>(
        /** The initial state. */
        val state: S,
    ) : InitResult<S>()

    /** Do not start; the client goes straight to [ConnectionState.Stopped] with [StopReason.ByHandler]. */
    public data class Stop(
        /** Why, reported in [StopReason.ByHandler]. */
        val reason: Any?,
    ) : InitResult<Nothing>()
}

/** What a handler callback asks the client to do next, with the new state. */
public sealed class HandlerAction<out S> {
    /** The new state. */
    public abstract val state: S

    /** Carry on with [state]. */
    public data class Ok<S>(
        override val state: S,
    ) : HandlerAction<S>()

    /**
     * Send [frames], in order, ahead of frames queued by [ParleyClient.send], then carry on with [state].
     * A push that cannot be written (connection lost meanwhile) is logged and the connection's end is reported to
     * [ParleyHandler.onDisconnect] with the real cause; the client itself carries on.
     */
    public data class Push<S>(
        val frames: List<Frame>,
        override val state: S,
    ) : HandlerAction<S>() {
        /** Push a single frame. */
        public constructor(frame: Frame, state: S) : this(listOf(frame), state)
    }

    /**
     * Close the connection gracefully with [closeCode] and keep the client alive; [ParleyHandler.onDisconnect]
     * then receives [DisconnectReason.ByHandler] with [reason].
     */
    public data class Disconnect<S>(
        val reason: Any?,
        override val state: S,
        val closeCode: Int = CloseCodes.NORMAL,
    ) : HandlerAction<S>() {
        init {
            require(CloseCodes.isSendable(closeCode)) { "closeCode $closeCode may not be sent in a close frame" }
        }
    }

    /** Close the connection (code 1000) and stop the client for good with [StopReason.ByHandler]. */
    public data class Stop<S>(
        val reason: Any?,
        override val state: S,
    ) : HandlerAction<S>()

    /**
     * Finish this callback later without holding up the connection: the client reads on while [result] completes, up
     * to [ParleyOptions.maxPendingCallbacks] outstanding results (then it stops reading until the oldest completes).
     * For work that takes a while per message, such as handing each message to another thread.
     *
     * - Results are carried out in the order of the callbacks that returned them, on the client's coroutine.
     * - A result is carried out before the client writes anything in answer to a later event — a close frame,
     *   including the one for a peer's protocol error — and before a later onConnect or onDisconnect. (Pings are
     *   still answered at once.)
     * - [state] is the state for the following callbacks; the state inside [result]'s action is ignored.
     * - A [Push] or [Disconnect] result is carried out only on the connection whose message it answers; once that
     *   connection has ended it is dropped (logged at DEBUG). A [Stop] result always applies. A [result] that fails
     *   stops the client with [StopReason.HandlerFailed] carrying that very exception.
     * - When the client stops, results still outstanding are no longer waited for.
     *
     * Return it from [ParleyHandler.onFrame], [ParleyHandler.onPing], [ParleyHandler.onPong] or
     * [ParleyHandler.onInfo]; from onConnect it is waited for before any queued frame is written.
     */
    public class Later<S>(
        public val result: Deferred<HandlerAction<S>>,
        override val state: S,
    ) : HandlerAction<S>()
}

/** What [ParleyHandler.onDisconnect] decided about reconnecting. */
public sealed class DisconnectDecision<out S> {
    /** The new state. */
    public abstract val state: S

    /**
     * Follow [ParleyOptions.reconnect] if [ParleyOptions.recoveryPolicy] calls the reason recoverable, waiting at
     * least its `Retry-After`; stay disconnected after a fatal one. After [ParleyClient.disconnect] this never
     * reconnects.
     */
    public data class Default<S>(
        override val state: S,
    ) : DisconnectDecision<S>()

    /**
     * Reconnect, also after a reason [ParleyOptions.recoveryPolicy] calls fatal, using the configured policy or
     * [ReconnectPolicy.DEFAULT] if none is configured. The attempt counts toward [ReconnectPolicy.maxRetries].
     *
     * @property after the delay before the next attempt, chosen by the handler (for instance from a server's close
     *   reason or its own schedule); `null` for the policy's backoff, or the server's `Retry-After` when longer.
     */
    public data class Reconnect<S>(
        override val state: S,
        val after: Duration? = null,
    ) : DisconnectDecision<S>() {
        init {
            require(after == null || !after.isNegative()) { "after must not be negative but was $after" }
        }
    }

    /** Stay disconnected until [ParleyClient.connect] is called. */
    public data class StayDisconnected<S>(
        override val state: S,
    ) : DisconnectDecision<S>()

    /** Stop the client for good with [StopReason.ByHandler] carrying [reason]. */
    public data class Stop<S>(
        val reason: Any?,
        override val state: S,
    ) : DisconnectDecision<S>()
}
