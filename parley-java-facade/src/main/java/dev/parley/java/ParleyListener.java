package dev.parley.java;

import java.nio.ByteBuffer;

/**
 * Receives a {@link ParleyWebSocket}'s events. Every method has a no-op default, so override only what you need.
 *
 * <h2>How callbacks run</h2>
 * Callbacks for one client never run concurrently and run in order, one at a time.
 * <ul>
 *   <li>By default they run on the client's own thread (one of {@code Dispatchers.IO}, taken by one client at a
 *   time), as a Kotlin handler does: a message reaches {@code onText} without a hand-off to another thread. While a
 *   callback runs, that client reads and writes nothing more (sends from other threads wait, and so does its
 *   heartbeat), so a slow listener pushes back on the peer through TCP at once; a listener that blocks holds up only
 *   its own client, never other clients. Give a {@code callbackExecutor} if callbacks do slow work and the client must
 *   go on meanwhile.</li>
 *   <li>With {@link ParleyWebSocket.Builder#callbackExecutor} (an Android main-thread executor, say) they run on that
 *   executor instead. The message callbacks ({@code onText}, {@code onBinary}, {@code onPing}, {@code onPong},
 *   {@code onInfo}) are then pipelined: the client hands each one to the executor and reads on without waiting for it,
 *   up to {@link ParleyWebSocket.Builder#maxPendingCallbacks} (default 256) received but unfinished callbacks. At that
 *   bound the client reads no further frame until half of them have finished (the socket pushes back on the peer),
 *   so a slow listener holds at most that many messages. {@code onConnect} and {@code onDisconnect} are waited for:
 *   they run after every earlier callback, and the client goes on only when they return.</li>
 * </ul>
 * A callback that throws stops the client: it closes with 1011 and its state becomes {@link ParleyState.Kind#STOPPED}
 * with {@link ParleyState.StopKind#LISTENER_FAILED} and the exception as {@link ParleyState#stopCause()}; message
 * callbacks not started yet are skipped. They are skipped as well once the client is stopped by
 * {@link ParleyWebSocket#stop}, {@link ParleyWebSocket#close} or {@link Reply#stop}.
 *
 * <h2>Calling the client from a callback</h2>
 * Every {@link ParleyWebSocket} method may be called from a callback; {@link ParleyWebSocket#close()} there requests
 * the stop and returns. Waiting inside a callback for one of the client's own futures ({@code join()}, {@code get()})
 * fails at once with {@code IllegalStateException}: it could complete only after the callback returns. Chain a
 * dependent instead ({@code thenRun}, {@code whenComplete}); dependents run apart from the callbacks and may wait.
 *
 * <h2>Replying</h2>
 * {@code onConnect}, {@code onText}, {@code onBinary}, {@code onPing}, {@code onPong} and {@code onInfo} get a
 * {@link Reply}: what is asked of it is carried out when the callback returns, in order. Replied frames go out ahead
 * of frames queued by {@link ParleyWebSocket#sendText} and the like (as a Kotlin {@code HandlerAction.Push} does), in
 * the order of the callbacks, and before anything the client writes for a later event: the close frame for a peer's
 * protocol error included. A reply can also close the connection or stop the client. See {@link Reply}.
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
     * A reply to a {@link ParleyWebSocket#request} arrived that no request was waiting for: {@code late} when its
     * request had timed out shortly before, else an id no recent request carried. It is not passed to
     * {@link #onText} as if it were a new message. Called as {@link #onInfo} is; the default does nothing (Parley has
     * logged it and counted it in {@link ParleyWebSocket#requestStats()}).
     *
     * @param id the request id the reply carried, as the codec reads it.
     * @param text the reply (a binary reply decoded as UTF-8).
     */
    default void onUnmatchedReply(Reply reply, String id, String text, boolean late) {}

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
