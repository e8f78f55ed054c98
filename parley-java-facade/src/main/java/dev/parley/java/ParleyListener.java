package dev.parley.java;

import java.nio.ByteBuffer;

/**
 * Receives a {@link ParleyWebSocket}'s events. Every method has a no-op default, so override only what you need.
 *
 * <h2>How callbacks run</h2>
 * Callbacks for one client never run concurrently and run in order, one at a time, on the client's callback executor
 * ({@link ParleyWebSocket.Builder#callbackExecutor}, by default a shared pool used serially per client).
 * <ul>
 *   <li>The message callbacks ({@code onText}, {@code onBinary}, {@code onPing}, {@code onPong}, {@code onInfo}) are
 *   pipelined: the client hands each one to the executor and reads on without waiting for it, up to
 *   {@link ParleyWebSocket.Builder#maxPendingCallbacks} (default 256) received but unfinished callbacks. At that bound
 *   the client reads no further frame until one finishes (the socket pushes back on the peer), so a slow listener
 *   holds at most that many messages. Sends from other threads still go out meanwhile.</li>
 *   <li>{@code onConnect} and {@code onDisconnect} are waited for: they run after every earlier callback, and the
 *   client goes on only when they return.</li>
 * </ul>
 * A callback that throws stops the client: it closes with 1011 and its state becomes {@link ParleyState.Kind#STOPPED}
 * with {@link ParleyState.StopKind#LISTENER_FAILED} and the exception as {@link ParleyState#stopCause()}; message
 * callbacks not started yet are skipped. They are skipped as well once the client is stopped by
 * {@link ParleyWebSocket#stop}, {@link ParleyWebSocket#close} or {@link Reply#stop}.
 *
 * <h2>Replying</h2>
 * {@code onConnect}, {@code onText}, {@code onBinary}, {@code onPing}, {@code onPong} and {@code onInfo} get a
 * {@link Reply}: what is asked of it is carried out when the callback returns, in order. Frames replied from
 * {@code onConnect} precede every frame queued while connecting; frames replied from a message callback are queued
 * then, behind frames already queued by {@link ParleyWebSocket#sendText} and the like. A reply can also close the
 * connection or stop the client. See {@link Reply} for the details.
 */
public interface ParleyListener {
    /** The upgrade completed. Frames replied here precede every frame queued while connecting. */
    default void onConnect(Reply reply) {}

    /** A whole text message arrived (reassembled, valid UTF-8). */
    default void onText(Reply reply, String text) {}

    /** A whole binary message arrived; the buffer is read-only and only valid during the call. */
    default void onBinary(Reply reply, ByteBuffer data) {}

    /** A ping arrived; the pong has already been queued. */
    default void onPing(Reply reply, ByteBuffer payload) {}

    /** A pong arrived. */
    default void onPong(Reply reply, ByteBuffer payload) {}

    /** A message given to {@link ParleyWebSocket#tell} arrived; called in every state but stopped. */
    default void onInfo(Reply reply, Object message) {}

    /**
     * A connection or an attempt ended. The answer decides about reconnecting: {@link ReconnectDecision#DEFAULT}
     * follows the builder's reconnect policy (and never reconnects after {@link ParleyWebSocket#disconnect}).
     */
    default ReconnectDecision onDisconnect(DisconnectInfo reason) {
        return ReconnectDecision.DEFAULT;
    }

    /**
     * The client's state changed. States are delivered in order among themselves and never concurrently with other
     * callbacks; a burst of changes may be conflated to the latest.
     */
    default void onStateChange(ParleyState state) {}
}
