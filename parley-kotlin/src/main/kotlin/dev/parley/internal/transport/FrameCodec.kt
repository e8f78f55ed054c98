package dev.parley.internal.transport

import dev.parley.CloseCodes
import dev.parley.transport.Opcode
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.WireFrame
import io.ktor.utils.io.ByteReadChannel
import io.ktor.utils.io.ByteWriteChannel
import io.ktor.utils.io.exhausted
import io.ktor.utils.io.readByte
import io.ktor.utils.io.readFully
import io.ktor.utils.io.readLong
import io.ktor.utils.io.readShort
import io.ktor.utils.io.writeFully
import java.nio.ByteBuffer
import java.util.SplittableRandom

/*
 * RFC 6455 §5.2 framing for the client side, straight on the socket's byte channels: no frame channel and no
 * coroutine between the connection's reader or writer and the socket. What a frame means (reassembly, control-frame
 * rules, UTF-8, close codes) is MessageAssembler's business; this layer refuses only what it cannot even carry.
 */

/** Reads the server's frames from [input]. Not thread safe: the session's reader is its only caller. */
internal class FrameDecoder(
    private val input: ByteReadChannel,
    private val maxFrameSize: Long,
) {
    /** The next frame, or `null` if the stream ended cleanly between two frames. */
    suspend fun read(): WireFrame? {
        if (input.exhausted()) return null
        val head = input.readShort().toInt()
        val fin = head and 0x8000 != 0
        val rsv = (head shr 12) and 0x7
        val opcode = opcodeOf((head shr 8) and 0xF)
        // RFC 6455 §5.1: a client must close the connection if the server masks a frame.
        if (head and 0x80 != 0) throw violation("the server sent a masked frame")
        val length =
            when (val short = head and 0x7F) {
                126 -> input.readShort().toLong() and 0xFFFF
                127 -> input.readLong().also { if (it < 0) throw violation("frame length with the high bit set") }
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
        val payload = ByteArray(length.toInt())
        if (length > 0) input.readFully(payload, 0, payload.size)
        return WireFrame(opcode, payload, fin, rsv)
    }

    private fun opcodeOf(code: Int): Opcode = OPCODES[code] ?: throw violation("unknown opcode 0x${code.toString(16)}")

    private fun violation(message: String) = TransportProtocolException(CloseCodes.PROTOCOL_ERROR, message)

    private companion object {
        const val MAX_CONTROL_PAYLOAD = 125

        val OPCODES: Array<Opcode?> = arrayOfNulls<Opcode>(16).also { table ->
            Opcode.entries.forEach {
                table[it.code] =
                    it
            }
        }
    }
}

/**
 * Writes masked client frames to [output]; they reach the socket on the next flush. Not thread safe: the session's
 * writer is its only caller.
 *
 * Masking keys come from a generator seeded from SecureRandom per connection rather than from SecureRandom per frame:
 * the mask exists so that script in a browser cannot choose the bytes an intermediary sees (RFC 6455 §10.3); the keys
 * only need to be unpredictable to the peer, and a per-frame SecureRandom call would cost more than the frame.
 */
internal class FrameEncoder(
    private val output: ByteWriteChannel,
    seed: Long,
) {
    private val keys = SplittableRandom(seed)

    suspend fun write(frame: WireFrame) {
        val payload = frame.payload
        val length = payload.size
        val headerSize = 2 + (
            if (length <= 125) {
                0
            } else if (length <= 0xFFFF) {
                2
            } else {
                8
            }
            ) + 4
        val chunk = minOf(length, MAX_CHUNK)
        val bytes = ByteArray(headerSize + chunk)
        val out = ByteBuffer.wrap(bytes)
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
        // Payloads larger than one chunk go out chunk by chunk through the same array; chunks start at multiples of 8,
        // so the key's phase is the same at the start of every chunk.
        var offset = 0
        var start = headerSize
        while (true) {
            val count = minOf(length - offset, MAX_CHUNK)
            mask(payload, offset, bytes, start, count, key)
            output.writeFully(bytes, 0, start + count)
            offset += count
            if (offset >= length) break
            start = 0
        }
    }

    suspend fun flush() = output.flush()

    private companion object {
        /** The most payload masked into one array: large frames are written in pieces this big. */
        const val MAX_CHUNK = 64 * 1024

        /** XORs [count] bytes of [src] from [from] into [dst] at [to] with the 4-byte [key], eight bytes at a time. */
        fun mask(src: ByteArray, from: Int, dst: ByteArray, to: Int, count: Int, key: Int) {
            val wide = (key.toLong() shl 32) or (key.toLong() and 0xFFFFFFFFL)
            val source = ByteBuffer.wrap(src)
            val target = ByteBuffer.wrap(dst)
            var i = 0
            while (i + 8 <= count) {
                target.putLong(to + i, source.getLong(from + i) xor wide)
                i += 8
            }
            while (i < count) {
                val keyByte = key ushr (24 - 8 * (i and 3))
                dst[to + i] = (src[from + i].toInt() xor keyByte).toByte()
                i++
            }
        }
    }
}
