package dev.parley.java;

import java.nio.ByteBuffer;

/**
 * What a {@link ParleyListener} callback may ask of its connection. Everything asked is carried out when the callback
 * returns, in order: Elixir Parley's {@code {:push, frame, state}}, {@code {:disconnect, ...}} and {@code {:stop, ...}}.
 * A reply object is only valid during the callback that received it.
 */
public interface Reply {
    /** Writes a text frame after the callback returns, ahead of frames queued with {@code sendText}. */
    Reply sendText(String text);

    /** Writes a binary frame after the callback returns. The array is not copied: do not modify it afterwards. */
    Reply sendBinary(byte[] data);

    /** Writes a binary frame with the buffer's remaining bytes (copied now). */
    Reply sendBinary(ByteBuffer data);

    /**
     * Writes a ping after the callback returns.
     *
     * @throws IllegalArgumentException if the payload is longer than 125 bytes.
     */
    Reply sendPing(byte[] payload);

    /**
     * Closes the connection gracefully with {@code code} after the callback returns; the client stays alive and
     * {@link ParleyListener#onDisconnect} receives {@link DisconnectInfo.Kind#BY_LISTENER} with {@code reason}.
     * Replaces any frames replied in the same callback.
     *
     * @throws IllegalArgumentException if {@code code} may not be sent in a close frame.
     */
    void disconnect(int code, Object reason);

    /** Stops the client for good after the callback returns, with {@code reason} in its stopped state. */
    void stop(Object reason);
}
