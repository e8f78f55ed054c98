package dev.parley.testkit

import java.nio.ByteBuffer

/**
 * One thing a client sent to a [TestConnection]: a whole (reassembled) text or binary message, or its close frame.
 *
 * Pings and pongs are not messages: see [TestConnection.expectPing] and [TestConnection.expectPong].
 */
public class TestMessage internal constructor(private val kind: Kind, private val payload: ByteArray) {
    /** What a [TestMessage] is. */
    public enum class Kind {
        /** A text message (opcode 0x1 and its continuations). */
        TEXT,

        /** A binary message (opcode 0x2 and its continuations). */
        BINARY,

        /** A close frame (opcode 0x8). */
        CLOSE,
    }

    /** Whether this is a text message, a binary message or a close frame. */
    public fun kind(): Kind = kind

    /** True for a text message. */
    public fun isText(): Boolean = kind == Kind.TEXT

    /** True for a binary message. */
    public fun isBinary(): Boolean = kind == Kind.BINARY

    /** True for a close frame. */
    public fun isClose(): Boolean = kind == Kind.CLOSE

    /** The text of a text message. Throws [IllegalStateException] for any other kind. */
    public fun text(): String {
        check(kind == Kind.TEXT) { "$this is not a text message" }
        return payload.toString(Charsets.UTF_8)
    }

    /** A copy of the payload: the message's bytes (UTF-8 for text), or a close frame's raw payload. */
    public fun bytes(): ByteArray = payload.copyOf()

    /** The payload size in bytes. */
    public fun size(): Int = payload.size

    /**
     * A close frame's status code, or 1005 (no status received, RFC 6455 section 7.1.5) when its payload is empty.
     * Throws [IllegalStateException] for any other kind.
     */
    public fun closeCode(): Int {
        check(kind == Kind.CLOSE) { "$this is not a close frame" }
        return if (payload.size >= 2) ByteBuffer.wrap(payload).short.toInt() and 0xFFFF else NO_STATUS
    }

    /** A close frame's reason ("" when absent). Throws [IllegalStateException] for any other kind. */
    public fun closeReason(): String {
        check(kind == Kind.CLOSE) { "$this is not a close frame" }
        return if (payload.size > 2) payload.copyOfRange(2, payload.size).toString(Charsets.UTF_8) else ""
    }

    /** `text("…")`, `binary(3 bytes: 01 02 03)` or `close(1000, "bye")`, as assertion messages show it. */
    override fun toString(): String = when (kind) {
        Kind.TEXT -> "text(\"${abbreviate(text())}\")"
        Kind.BINARY -> "binary(${payload.size} bytes${hexPreview()})"
        Kind.CLOSE -> "close(${closeCode()}, \"${abbreviate(closeReason())}\")"
    }

    private fun hexPreview(): String = if (payload.isEmpty()) {
        ""
    } else {
        payload.take(HEX_PREVIEW).joinToString(" ", prefix = ": ") { "%02x".format(it.toInt() and 0xFF) } +
            (if (payload.size > HEX_PREVIEW) " …" else "")
    }

    private companion object {
        const val NO_STATUS = 1005
        const val HEX_PREVIEW = 16
        const val TEXT_PREVIEW = 200

        fun abbreviate(s: String): String = if (s.length <= TEXT_PREVIEW) s else s.take(TEXT_PREVIEW) + "…"
    }
}
