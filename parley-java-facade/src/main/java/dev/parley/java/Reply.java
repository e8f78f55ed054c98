package dev.parley.java;

import java.nio.ByteBuffer;

/**
 * What a {@link ParleyListener} callback may ask of its connection: Elixir Parley's {@code {:push, frame, state}},
 * {@code {:disconnect, ...}} and {@code {:stop, ...}}. Nothing is done while the callback runs; everything asked is
 * carried out when it returns, frames in the order asked. A reply object is only valid during the callback that
 * received it.
 *
 * <h2>When replied frames are sent</h2>
 * <ul>
 *   <li>From {@link ParleyListener#onConnect}: ahead of every frame queued while connecting, as the client waits for
 *   that callback.</li>
 *   <li>From the message callbacks ({@code onText}, {@code onBinary}, {@code onPing}, {@code onPong},
 *   {@code onInfo}), which the client does not wait for (see {@link ParleyListener}): when the callback returns, ahead
 *   of frames already queued by {@link ParleyWebSocket#sendText} and the like (as a Kotlin {@code HandlerAction.Push}
 *   is), in callback order, and before anything the client writes for a later event (such as the close frame for a
 *   peer's protocol error). Replies are meant for the connection that delivered the message: once it has ended they
 *   are dropped with a line in the log, never sent on a later connection. While the connection is closing (after
 *   {@link #disconnect} or {@link ParleyWebSocket#disconnect}) nothing more can be sent, so replies are dropped too;
 *   the messages the peer sends before its close still reach the listener.</li>
 * </ul>
 */
public interface Reply {
    /** Sends a text frame when the callback returns. */
    Reply sendText(String text);

    /** Sends a binary frame when the callback returns. The array is not copied: do not modify it afterwards. */
    Reply sendBinary(byte[] data);

    /** Sends a binary frame with the buffer's remaining bytes (copied now). */
    Reply sendBinary(ByteBuffer data);

    /**
     * Sends a ping when the callback returns.
     *
     * @throws IllegalArgumentException if the payload is longer than 125 bytes.
     */
    Reply sendPing(byte[] payload);

    /**
     * Closes the connection gracefully with {@code code} when the callback returns; the client stays alive and
     * {@link ParleyListener#onDisconnect} receives {@link DisconnectInfo.Kind#BY_LISTENER} with {@code reason}.
     * Replaces any frames replied in the same callback. From a message callback, nothing happens if that connection
     * has already ended; messages the peer sends before its close reply still reach the listener.
     *
     * @throws IllegalArgumentException if {@code code} may not be sent in a close frame.
     */
    void disconnect(int code, Object reason);

    /**
     * Stops the client for good when the callback returns, with {@code reason} in its stopped state
     * ({@link ParleyState.StopKind#BY_LISTENER}). Replaces any frames replied in the same callback. From a message
     * callback: message callbacks not started yet are skipped.
     */
    void stop(Object reason);
}
