package dev.parley.internal.deflate

import dev.parley.CloseCodes
import dev.parley.Compression
import dev.parley.internal.transport.NonBlockingSession
import dev.parley.transport.Opcode
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlin.time.Duration

/*
 * permessage-deflate (RFC 7692) as a layer between a transport's frames and the rest of Parley: below it the frames
 * are as on the wire (RSV1 marks a compressed message), above it they are plain, so the message assembler, the
 * limits and the state machine never know compression exists. Being a wrapper around any TransportSession, it works
 * the same over Parley's own transport and over a caller's Ktor HttpClient.
 */

/** [session] with permessage-deflate as [parameters] negotiated it. */
internal fun deflating(
    session: TransportSession,
    parameters: DeflateParameters,
    compression: Compression,
    maxMessageSize: Long,
): TransportSession = if (session is NonBlockingSession) {
    // The reader of a session that never blocks runs unconfined; inflating keeps that promise (it is CPU work only).
    object : DeflateSession(session, parameters, compression, maxMessageSize), NonBlockingSession {}
} else {
    DeflateSession(session, parameters, compression, maxMessageSize)
}

internal open class DeflateSession(
    private val inner: TransportSession,
    parameters: DeflateParameters,
    private val compression: Compression,
    maxMessageSize: Long,
) : TransportSession by inner {
    private val inflater = MessageInflater(maxMessageSize)
    private val deflater = MessageDeflater(compression.level, parameters.clientNoContextTakeover)

    /** Whether the data message now arriving is compressed; meaningful from its first frame to its last. */
    private var inboundCompressed = false

    override suspend fun receive(): WireFrame? {
        val frame = inner.receive() ?: return null
        val rsv1 = frame.rsv and RSV1 != 0
        when {
            // RFC 7692 §6.1: compression applies to data messages only.
            frame.opcode.isControl -> {
                if (rsv1) throw violation("the server compressed a ${frame.opcode} frame; control frames never are")
                return frame
            }

            // §6.1 again: RSV1 marks a message's first frame, never a continuation.
            frame.opcode == Opcode.CONTINUATION -> if (rsv1) throw violation("RSV1 set on a continuation frame")

            else -> inboundCompressed = rsv1
        }
        if (!inboundCompressed) return frame
        val plain = inflater.inflate(frame.payload, last = frame.fin)
        if (frame.fin) inboundCompressed = false
        return WireFrame(frame.opcode, plain, frame.fin, frame.rsv and RSV1.inv())
    }

    override suspend fun write(frame: WireFrame) {
        // Parley sends every data message as one frame; a fragmented one (a custom caller) would go out as it is.
        val compress = frame.fin && (frame.opcode == Opcode.TEXT || frame.opcode == Opcode.BINARY) &&
            frame.payload.size >= compression.threshold
        if (!compress) return inner.write(frame)
        inner.write(WireFrame(frame.opcode, deflater.deflate(frame.payload), fin = true, rsv = frame.rsv or RSV1))
    }

    override fun abort() {
        inner.abort()
        release()
    }

    override fun release(linger: Duration) {
        inner.release(linger)
        release()
    }

    /** Frees the zlib streams' native memory now rather than at the next GC; one still in use goes when it is done. */
    private fun release() {
        inflater.end()
        deflater.end()
    }

    private fun violation(message: String) = TransportProtocolException(CloseCodes.PROTOCOL_ERROR, message)

    private companion object {
        const val RSV1 = 4
    }
}
