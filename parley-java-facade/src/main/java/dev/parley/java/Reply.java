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
 *   {@code onInfo}), which the client does not wait for (see {@link ParleyListener}): queued when the callback returns,
 *   like {@link ParleyWebSocket#sendText}, so behind frames already queued (unlike a Kotlin
 *   {@code HandlerAction.Push}, they do not jump ahead of queued frames). Replies of successive callbacks stay in
 *   callback order. When the send queue is full they wait for room if the builder's overflow is {@code SUSPEND} (the
 *   client then stops reading until they are queued) and are dropped with a warning in the log if it is
 *   {@code FAIL}. They are best effort once the connection they answer is gone: one that can no longer be queued is
 *   dropped with a line in the log (also when a new connection is already being opened: replies are meant for the
 *   connection that delivered the message), and one queued but not written is logged and reported as
 *   {@link ParleyEventInfo.Kind#FRAME_DROPPED}.</li>
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
     * Replaces any frames replied in the same callback. From a message callback: callbacks not started yet for
     * messages of the same connection ({@code onText}, {@code onBinary}, {@code onPing}, {@code onPong}) are skipped,
     * as the connection is closing, and nothing happens if that connection has already ended.
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
