package dev.parley

/**
 * Sees every frame a client sends and receives, and each connection's start and end: for a recorder (`FrameRecorder`
 * in `parley-recorder`), a wire log, an audit trail. Set it with [ParleyOptions.Builder.wireTap].
 *
 * Frames are reported as the application sees them: inbound messages once reassembled from their fragments and
 * inflated, just before the handler gets them; outbound frames as they are written, before compression. Pings, pongs
 * and close frames are reported too, in both directions.
 *
 * The tap is called on the connection's own reader and writer, never on the handler's turn, so it must be quick and
 * must never block: a slow tap slows the connection down. Inbound and outbound calls may come at the same time from
 * two threads; within one direction they come in wire order. A tap that throws is logged once and otherwise ignored:
 * it can never break the connection.
 */
public interface WireTap {
    /** [frame] crossed the wire. Its payload is the frame's own array: read it now, copy what you keep. */
    public fun frame(frame: TappedFrame)

    /** Connection number [connection] opened with [subprotocol]; its frames follow. Does nothing by default. */
    public fun connected(connection: Long, subprotocol: String?) {}

    /**
     * Connection number [connection] ended for [reason]; nothing more of it follows (a close frame still leaving as a
     * client stops is not shown). Does nothing by default.
     */
    public fun disconnected(connection: Long, reason: DisconnectReason) {}
}

/** Which way a [TappedFrame] went. */
public enum class WireDirection {
    /** From the server to us. */
    INBOUND,

    /** From us to the server. */
    OUTBOUND,
}

/** What a [TappedFrame] is. */
public enum class FrameKind {
    /** A text message. */
    TEXT,

    /** A binary message. */
    BINARY,

    /** A ping. */
    PING,

    /** A pong. */
    PONG,

    /** A close frame. */
    CLOSE,
}

/**
 * One frame seen by a [WireTap].
 *
 * @property connection the number of the connection it went over (1 for the client's first).
 * @property direction which way it went.
 * @property kind what it is.
 */
public class TappedFrame internal constructor(
    public val connection: Long,
    public val direction: WireDirection,
    public val kind: FrameKind,
    private val bytes: ByteArray?,
    private val string: String?,
) {
    /**
     * The payload as it is on the wire: a text message's UTF-8, a close frame's code and reason. For an inbound text
     * message it is encoded on each call (the client holds it as text): prefer [text] there.
     */
    public val payload: ByteArray get() = bytes ?: string.orEmpty().toByteArray(Charsets.UTF_8)

    /** A text message's text, or `null` for any other kind. */
    public val text: String?
        get() = if (kind != FrameKind.TEXT) null else string ?: bytes?.toString(Charsets.UTF_8)

    /** A close frame's code (1005, "no status", when it carried none), or `null` for any other kind. */
    public val closeCode: Int?
        get() {
            if (kind != FrameKind.CLOSE) return null
            val p = payload
            return if (p.size < 2) CloseCodes.NO_STATUS else ((p[0].toInt() and 0xFF) shl 8) or (p[1].toInt() and 0xFF)
        }

    /** A close frame's reason (possibly empty), or `null` for any other kind. */
    public val closeReason: String?
        get() {
            if (kind != FrameKind.CLOSE) return null
            val p = payload
            return if (p.size <= 2) "" else String(p, 2, p.size - 2, Charsets.UTF_8)
        }

    /** Its connection, direction and kind; never the payload, which may hold secrets. */
    override fun toString(): String = "TappedFrame(connection $connection, $direction, $kind)"

    public companion object {
        /** A text frame as a client would show it to a tap: for testing a tap of your own. */
        @JvmStatic
        public fun text(connection: Long, direction: WireDirection, text: String): TappedFrame =
            TappedFrame(connection, direction, FrameKind.TEXT, null, text)

        /** A frame of [kind] with [payload] (a text message's UTF-8 for [FrameKind.TEXT]), for testing a tap. */
        @JvmStatic
        public fun of(connection: Long, direction: WireDirection, kind: FrameKind, payload: ByteArray): TappedFrame =
            TappedFrame(connection, direction, kind, payload, null)
    }
}
