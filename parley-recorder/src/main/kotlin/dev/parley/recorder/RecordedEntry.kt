package dev.parley.recorder

import dev.parley.Frame
import dev.parley.FrameKind
import dev.parley.WireDirection
import java.time.Instant

/**
 * One line of a [Recording]: a frame, a connection's start or end, or a gap where the recorder had to drop frames.
 *
 * @property at when it happened, by the recorder's clock.
 * @property connection the client's number for the connection (1 for its first); 0 for a [RecordedGap].
 */
public sealed class RecordedEntry {
    public abstract val at: Instant
    public abstract val connection: Long
}

/**
 * A frame that crossed the wire.
 *
 * @property direction which way it went.
 * @property kind what it is.
 * @property text a text message's text (with its secrets redacted), or `null` for any other kind.
 * @property closeCode a close frame's code, or `null` for any other kind.
 * @property closeReason a close frame's reason, or `null` for any other kind.
 * @property redacted whether the recorder replaced secrets in [text]: the text is not what was sent.
 */
public class RecordedFrame(
    override val at: Instant,
    override val connection: Long,
    public val direction: WireDirection,
    public val kind: FrameKind,
    public val text: String?,
    private val bytes: ByteArray?,
    public val closeCode: Int?,
    public val closeReason: String?,
    public val redacted: Boolean,
) : RecordedEntry() {
    /** The payload of a binary message, ping or pong (a copy), empty for the other kinds. */
    public fun payload(): ByteArray = bytes?.copyOf() ?: ByteArray(0)

    /** The frame as a handler would receive it, or `null` for a close frame (its end is a [RecordedDisconnect]). */
    public fun toFrame(): Frame? = when (kind) {
        FrameKind.TEXT -> Frame.Text(text.orEmpty())
        FrameKind.BINARY -> Frame.Binary(payload())
        FrameKind.PING -> Frame.Ping(payload())
        FrameKind.PONG -> Frame.Pong(payload())
        FrameKind.CLOSE -> null
    }

    /** Its time, connection, direction and kind; never the payload. */
    override fun toString(): String = "RecordedFrame($at, connection $connection, $direction, $kind)"
}

/**
 * A connection opened.
 *
 * @property subprotocol the subprotocol the server chose, or `null` for none.
 */
public class RecordedConnect(
    override val at: Instant,
    override val connection: Long,
    public val subprotocol: String?,
) : RecordedEntry() {
    override fun toString(): String = "RecordedConnect($at, connection $connection, subprotocol $subprotocol)"
}

/**
 * A connection ended.
 *
 * @property reason the [dev.parley.DisconnectReason]'s type, such as `ClosedByPeer`.
 * @property explanation what it meant, in words ([dev.parley.DisconnectReason.explain]).
 * @property closeCode the close code, for the reasons that have one.
 * @property closeReason the close reason, for the reasons that have one.
 */
public class RecordedDisconnect(
    override val at: Instant,
    override val connection: Long,
    public val reason: String,
    public val explanation: String,
    public val closeCode: Int?,
    public val closeReason: String?,
) : RecordedEntry() {
    override fun toString(): String = "RecordedDisconnect($at, connection $connection, $reason)"
}

/**
 * The recorder dropped [frames] frames before this point (its buffer was full, or its output failed): the recording
 * is incomplete here, and says so rather than hiding it.
 */
public class RecordedGap(
    override val at: Instant,
    public val frames: Long,
) : RecordedEntry() {
    override val connection: Long get() = 0

    override fun toString(): String = "RecordedGap($at, $frames frames dropped)"
}
