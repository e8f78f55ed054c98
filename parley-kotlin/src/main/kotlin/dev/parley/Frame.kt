package dev.parley

/**
 * A WebSocket message as Parley's API sees it: a whole text or binary message, or a ping or pong.
 *
 * Fragmented messages are reassembled before they reach a handler, and close frames never appear here: the close
 * handshake is Parley's job, and its outcome reaches [ParleyHandler.onDisconnect] as a [DisconnectReason].
 *
 * Binary payloads compare by content, so `Frame.Binary(byteArrayOf(1)) == Frame.Binary(byteArrayOf(1))`.
 * Parley never mutates a payload array it is given or hands out; callers must not mutate one after sending it.
 */
public sealed class Frame {
    /** A text message. */
    public class Text(
        /** The message text. */
        public val text: String,
    ) : Frame() {
        override fun equals(other: Any?): Boolean = other is Text && other.text == text

        override fun hashCode(): Int = text.hashCode()

        override fun toString(): String = "Text(${text.length} chars)"
    }

    /** A binary message. */
    public class Binary(
        /** The message bytes. */
        public val bytes: ByteArray,
    ) : Frame() {
        override fun equals(other: Any?): Boolean = other is Binary && other.bytes.contentEquals(bytes)

        override fun hashCode(): Int = bytes.contentHashCode()

        override fun toString(): String = "Binary(${bytes.size} bytes)"
    }

    /**
     * A ping. The peer must answer it with a pong carrying the same payload.
     *
     * @throws IllegalArgumentException if [payload] is longer than 125 bytes (RFC 6455 §5.5).
     */
    public class Ping(
        /** Application data, at most 125 bytes. */
        public val payload: ByteArray = EMPTY,
    ) : Frame() {
        init {
            requireControlPayload("Ping", payload)
        }

        override fun equals(other: Any?): Boolean = other is Ping && other.payload.contentEquals(payload)

        override fun hashCode(): Int = payload.contentHashCode() + 1

        override fun toString(): String = "Ping(${payload.size} bytes)"
    }

    /**
     * A pong: the answer to a ping, or an unsolicited heartbeat.
     *
     * @throws IllegalArgumentException if [payload] is longer than 125 bytes (RFC 6455 §5.5).
     */
    public class Pong(
        /** Application data, at most 125 bytes. */
        public val payload: ByteArray = EMPTY,
    ) : Frame() {
        init {
            requireControlPayload("Pong", payload)
        }

        override fun equals(other: Any?): Boolean = other is Pong && other.payload.contentEquals(payload)

        override fun hashCode(): Int = payload.contentHashCode() + 2

        override fun toString(): String = "Pong(${payload.size} bytes)"
    }

    private companion object {
        val EMPTY = ByteArray(0)

        fun requireControlPayload(kind: String, payload: ByteArray) {
            require(payload.size <= MAX_CONTROL_PAYLOAD) {
                "$kind payload must be at most $MAX_CONTROL_PAYLOAD bytes but was ${payload.size}"
            }
        }
    }
}

/** RFC 6455 §5.5: control frames carry at most 125 bytes of payload. */
internal const val MAX_CONTROL_PAYLOAD: Int = 125
