package dev.parley.internal

import dev.parley.CloseCodes
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.MAX_CONTROL_PAYLOAD
import dev.parley.transport.Opcode
import dev.parley.transport.WireFrame
import java.io.ByteArrayOutputStream

/** What the peer's frames amount to, once reassembled and validated. */
internal sealed class Inbound {
    class Message(
        val frame: Frame,
    ) : Inbound()

    class Ping(
        val payload: ByteArray,
    ) : Inbound()

    class Pong(
        val payload: ByteArray,
    ) : Inbound()

    data class Close(
        val code: Int,
        val reason: String,
    ) : Inbound()

    /** The peer broke the protocol: close with [closeCode] and report [reason]. */
    data class Violation(
        val reason: DisconnectReason,
        val closeCode: Int,
    ) : Inbound()
}

/**
 * Turns the peer's frames into messages, enforcing what RFC 6455 asks of a client: no reserved bits without an
 * extension, control frames unfragmented and at most 125 bytes, continuations only inside a fragmented message, text
 * that is UTF-8 (checked per fragment, so a bad message fails early), close frames with a valid code and a UTF-8
 * reason, and messages no larger than [maxMessageSize]. Not thread safe: one per connection, fed by its reader.
 */
internal class MessageAssembler(
    private val maxMessageSize: Long,
) {
    /** The type of the fragmented message in progress, or `null` between messages. */
    private var fragmentedType: Opcode? = null
    private val fragments = ByteArrayOutputStream()
    private var utf8 = Utf8Validator()

    /** Returns what [frame] completes, or `null` if it is a fragment of a message still in progress. */
    fun accept(frame: WireFrame): Inbound? {
        if (frame.rsv != 0) return protocolError("reserved bits ${frame.rsv} set but no extension was negotiated")
        if (frame.opcode.isControl) return control(frame)
        if (frame.opcode == Opcode.CONTINUATION) {
            val type = fragmentedType ?: return protocolError("continuation frame without a message to continue")
            return append(type, frame)
        }
        if (fragmentedType != null) {
            return protocolError("${frame.opcode} frame while a fragmented $fragmentedType message is incomplete")
        }
        if (frame.payload.size > maxMessageSize) return tooBig()
        if (frame.fin) return complete(frame.opcode, frame.payload)
        fragmentedType = frame.opcode
        utf8 = Utf8Validator()
        return append(frame.opcode, frame)
    }

    private fun append(type: Opcode, frame: WireFrame): Inbound? {
        if (fragments.size().toLong() + frame.payload.size > maxMessageSize) return tooBig()
        if (type == Opcode.TEXT && !utf8.feed(frame.payload)) return invalidUtf8("text message")
        fragments.write(frame.payload)
        if (!frame.fin) return null
        val whole = fragments.toByteArray()
        fragments.reset()
        fragmentedType = null
        if (type == Opcode.TEXT && !utf8.isComplete) return invalidUtf8("text message")
        return Inbound.Message(
            if (type ==
                Opcode.TEXT
            ) {
                Frame.Text(String(whole, Charsets.UTF_8))
            } else {
                Frame.Binary(whole)
            },
        )
    }

    private fun complete(type: Opcode, payload: ByteArray): Inbound = if (type == Opcode.TEXT) {
        val validator = Utf8Validator()
        if (!validator.feed(payload) || !validator.isComplete) {
            invalidUtf8("text message")
        } else {
            Inbound.Message(Frame.Text(String(payload, Charsets.UTF_8)))
        }
    } else {
        Inbound.Message(Frame.Binary(payload))
    }

    private fun control(frame: WireFrame): Inbound {
        if (!frame.fin) return protocolError("fragmented ${frame.opcode} frame")
        if (frame.payload.size > MAX_CONTROL_PAYLOAD) {
            return protocolError(
                "${frame.opcode} frame of ${frame.payload.size} bytes; control frames carry at most 125",
            )
        }
        return when (frame.opcode) {
            Opcode.PING -> Inbound.Ping(frame.payload)
            Opcode.PONG -> Inbound.Pong(frame.payload)
            else -> parseClose(frame.payload)
        }
    }

    private fun parseClose(payload: ByteArray): Inbound {
        if (payload.isEmpty()) return Inbound.Close(CloseCodes.NO_STATUS, "")
        if (payload.size == 1) return protocolError("close frame with a 1-byte payload")
        val code = ((payload[0].toInt() and 0xFF) shl 8) or (payload[1].toInt() and 0xFF)
        if (!CloseCodes.isSendable(code)) return protocolError("close code $code may not be sent")
        val validator = Utf8Validator()
        if (!validator.feed(payload, 2) || !validator.isComplete) return invalidUtf8("close reason")
        return Inbound.Close(code, String(payload, 2, payload.size - 2, Charsets.UTF_8))
    }

    private fun protocolError(message: String) = Inbound.Violation(
        DisconnectReason.ProtocolViolation(CloseCodes.PROTOCOL_ERROR, message),
        CloseCodes.PROTOCOL_ERROR,
    )

    private fun invalidUtf8(what: String) = Inbound.Violation(
        DisconnectReason.ProtocolViolation(CloseCodes.INVALID_PAYLOAD, "$what is not valid UTF-8"),
        CloseCodes.INVALID_PAYLOAD,
    )

    private fun tooBig() = Inbound.Violation(DisconnectReason.MessageTooBig(maxMessageSize), CloseCodes.MESSAGE_TOO_BIG)
}
