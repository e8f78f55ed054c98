package dev.parley.java;

import java.nio.ByteBuffer;

/**
 * Receives a {@link ParleyWebSocket}'s events. Every method has a no-op default, so override only what you need.
 *
 * <h2>How callbacks run</h2>
 * Callbacks for one client never run concurrently and arrive in order, on the client's callback executor
 * ({@link ParleyWebSocket.Builder#callbackExecutor}, by default a shared pool used serially per client). While a
 * callback runs, the client reads no further frame (the socket pushes back); sends from other threads still go out.
 * A callback that throws stops the client: it closes with 1011 and its state becomes {@link ParleyState.Kind#STOPPED}
 * with {@link ParleyState.StopKind#LISTENER_FAILED}.
 *
 * <h2>Replying</h2>
 * {@code onConnect}, {@code onText}, {@code onBinary}, {@code onPing}, {@code onPong} and {@code onInfo} get a
 * {@link Reply}: frames given to it are written when the callback returns, in order, ahead of anything queued by
 * {@link ParleyWebSocket#sendText}; it can also close the connection or stop the client.
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
