package dev.parley.internal.transport

import dev.parley.CloseCodes
import dev.parley.internal.Utf8Validator
import dev.parley.transport.Opcode
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.WireFrame
import java.io.IOException
import java.nio.ByteBuffer
import java.util.SplittableRandom

/*
 * RFC 6455 §5.2 framing for the client side, straight on the connection: no frame channel and no coroutine between
 * the session's reader or writer and the socket. The codecs refuse what the protocol forbids as early as the bytes
 * allow (a control frame's size from its header, invalid UTF-8 as soon as it arrives, anything after our Close);
 * what a sequence of frames means (reassembly, close codes) is MessageAssembler's business.
 */

/** Reads the server's frames from [input]. Not thread safe: the session's reader is its only caller. */
internal class FrameDecoder(
    private val input: LinkInput,
    private val maxFrameSize: Long,
) {
    /**
     * Checks the text message in progress as its bytes arrive, also inside one frame that arrives in pieces, so a
     * peer cannot make us buffer megabytes of a message that its first bad byte already doomed. `null` between text
     * messages and inside binary ones.
     */
    private var text: Utf8Validator? = null

    /** The next frame, or `null` if the stream ended cleanly between two frames. */
    suspend fun read(): WireFrame? {
        input.releaseIfEmpty()
        if (!input.require(2)) return null
        val head = input.short()
        val fin = head and 0x8000 != 0
        val rsv = (head shr 12) and 0x7
        val opcode = opcodeOf((head shr 8) and 0xF)
        // RFC 6455 §5.1: a client must close the connection if the server masks a frame.
        if (head and 0x80 != 0) throw violation("the server sent a masked frame")
        val length =
            when (val short = head and 0x7F) {
                126 -> {
                    require(2)
                    input.short().toLong()
                }

                127 -> {
                    require(8)
                    input.long().also { if (it < 0) throw violation("frame length with the high bit set") }
                }

                else -> short.toLong()
            }
        // RFC 6455 §5.5, from the header: an oversized or fragmented control frame's payload is never read.
        if (opcode.isControl) {
            if (length > MAX_CONTROL_PAYLOAD) {
                throw violation("$opcode frame of $length bytes; control frames carry at most $MAX_CONTROL_PAYLOAD")
            }
            if (!fin) throw violation("fragmented $opcode frame")
        }
        // Checked before reading, so a hostile length never becomes an allocation.
        if (length > maxFrameSize) {
            throw TransportProtocolException(
                CloseCodes.MESSAGE_TOO_BIG,
                "frame of $length bytes exceeds maxFrameSize $maxFrameSize",
            )
        }
        // Only a frame the assembler will accept as text is checked here; anything out of sequence is its to refuse.
        // A compressed text message (RSV1) is checked once inflated, by the assembler.
        val validator =
            when (opcode) {
                Opcode.TEXT -> (if (rsv == 0) Utf8Validator() else null).also { text = it }
                Opcode.CONTINUATION -> text
                Opcode.BINARY -> null.also { text = null }
                else -> null
            }
        val payload = ByteArray(length.toInt())
        var at = 0
        while (at < payload.size) {
            val count = input.readSome(payload, at, payload.size - at)
            if (validator != null && !validator.feed(payload, at, at + count)) {
                throw TransportProtocolException(CloseCodes.INVALID_PAYLOAD, "text message is not valid UTF-8")
            }
            at += count
        }
        if (fin && !opcode.isControl) text = null
        return WireFrame(opcode, payload, fin, rsv)
    }

    private suspend fun require(count: Int) {
        if (!input.require(count)) throw java.io.EOFException("the connection ended in the middle of a frame header")
    }

    private fun opcodeOf(code: Int): Opcode = OPCODES[code] ?: throw violation("unknown opcode 0x${code.toString(16)}")

    private fun violation(message: String) = TransportProtocolException(CloseCodes.PROTOCOL_ERROR, message)

    private companion object {
        const val MAX_CONTROL_PAYLOAD = 125

        val OPCODES: Array<Opcode?> =
            arrayOfNulls<Opcode>(16).also { table -> Opcode.entries.forEach { table[it.code] = it } }
    }
}

/**
 * Writes masked client frames to [link]: they are gathered in a buffer and written to the socket by [flush] (or when
 * the buffer fills), so "flushed" means handed to the operating system. Not thread safe: the session's writer is its
 * only caller.
 *
 * Nothing can be written after a Close frame (RFC 6455 §5.5.1): the encoder refuses it, whoever asks.
 *
 * Masking keys come from a generator seeded from SecureRandom per connection rather than from SecureRandom per frame:
 * the mask exists so that script in a browser cannot choose the bytes an intermediary sees (RFC 6455 §10.3); the keys
 * only need to be unpredictable to the peer, and a per-frame SecureRandom call would cost more than the frame.
 */
internal class FrameEncoder(
    private val link: ByteLink,
    seed: Long,
) {
    private val keys = SplittableRandom(seed)

    /** Frames not yet written, in write mode; borrowed while frames wait, returned after each flush. */
    private var buffer: ByteBuffer? = null

    private var closeWritten = false

    suspend fun write(frame: WireFrame) {
        if (closeWritten) throw IOException("a ${frame.opcode} frame after our Close frame: nothing may follow it")
        if (frame.opcode == Opcode.CLOSE) closeWritten = true
        val payload = frame.payload
        val length = payload.size
        val out = room(MAX_HEADER)
        val first = (if (frame.fin) 0x80 else 0) or (frame.rsv shl 4) or frame.opcode.code
        out.put(first.toByte())
        when {
            length <= 125 -> out.put((0x80 or length).toByte())

            length <= 0xFFFF -> {
                out.put((0x80 or 126).toByte())
                out.putShort(length.toShort())
            }

            else -> {
                out.put((0x80 or 127).toByte())
                out.putLong(length.toLong())
            }
        }
        val key = keys.nextInt()
        out.putInt(key)
        // A payload larger than the room left goes out in pieces through the same buffer. Each piece but the last
        // has a length that is a multiple of 8, so the key's phase is the same at the start of every piece.
        var offset = 0
        while (offset < length) {
            val target = room(8)
            val count = minOf(length - offset, target.remaining() and 7.inv())
            mask(payload, offset, target, count, key)
            offset += count
        }
    }

    /** Writes what is buffered to the socket. */
    suspend fun flush() {
        val held = buffer ?: return
        held.flipForReading()
        try {
            link.write(held)
        } finally {
            buffer = null
            IoBuffers.give(held)
        }
    }

    /** The buffer, with at least [bytes] free (written out first if need be). */
    private suspend fun room(bytes: Int): ByteBuffer {
        val held = buffer
        if (held != null && held.remaining() >= bytes) return held
        if (held != null) flush()
        return IoBuffers.take().also {
            it.clearForWriting()
            buffer = it
        }
    }

    private companion object {
        /** 2 bytes of flags and length, 8 of extended length, 4 of masking key. */
        const val MAX_HEADER = 14

        /** XORs [count] bytes of [src] from [from] into [target] with the 4-byte [key], eight bytes at a time. */
        fun mask(src: ByteArray, from: Int, target: ByteBuffer, count: Int, key: Int) {
            val wide = (key.toLong() shl 32) or (key.toLong() and 0xFFFFFFFFL)
            val source = ByteBuffer.wrap(src)
            var i = 0
            val at = target.position()
            while (i + 8 <= count) {
                target.putLong(at + i, source.getLong(from + i) xor wide)
                i += 8
            }
            while (i < count) {
                val keyByte = key ushr (24 - 8 * (i and 3))
                target.put(at + i, (src[from + i].toInt() xor keyByte).toByte())
                i++
            }
            target.moveTo(at + count)
        }
    }
}
