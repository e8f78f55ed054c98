package dev.parley.testkit.internal

import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.InputStream
import java.nio.ByteBuffer
import java.security.MessageDigest
import java.util.Base64

/** A client did something RFC 6455 forbids (or the server's limits refuse): close with [code]. */
internal class ProtocolFault(val code: Int, message: String) : Exception(message)

/** One decoded client frame, payload already unmasked. */
internal class WireFrame(val fin: Boolean, val rsv: Int, val opcode: Int, val payload: ByteArray)

/** The request line and headers of an HTTP request head (names lower-cased, values trimmed, in order). */
internal class RequestHead(val requestLine: String, val headers: List<Pair<String, String>>)

internal object Wire {
    const val MAX_HEAD_BYTES: Int = 64 * 1024
    private const val GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    private const val MAX_CONTROL_PAYLOAD = 125

    /** `Sec-WebSocket-Accept` for [key] (RFC 6455 section 4.2.2). */
    fun acceptKey(key: String): String =
        Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-1").digest((key + GUID).toByteArray()))

    /** Reads up to the blank line ending an HTTP head; null on EOF before it; fails past [MAX_HEAD_BYTES]. */
    fun readHead(input: InputStream): RequestHead? {
        val head = ByteArrayOutputStream()
        var matched = 0
        while (matched < 4) {
            val b = input.read()
            if (b < 0) return null
            if (head.size() >= MAX_HEAD_BYTES) throw ProtocolFault(431, "request head over $MAX_HEAD_BYTES bytes")
            head.write(b)
            matched = when {
                b == '\r'.code && matched % 2 == 0 -> matched + 1
                b == '\n'.code && matched % 2 == 1 -> matched + 1
                b == '\r'.code -> 1
                else -> 0
            }
        }
        val lines = head.toString(Charsets.ISO_8859_1.name()).split("\r\n").filter { it.isNotEmpty() }
        val headers = lines.drop(1).mapNotNull { line ->
            val colon = line.indexOf(':')
            if (colon <= 0) null else line.substring(0, colon).trim().lowercase() to line.substring(colon + 1).trim()
        }
        return RequestHead(lines.firstOrNull().orEmpty(), headers)
    }

    /** Encodes one frame (a server frame unless [mask]: servers must not mask, so true is a fault to send). */
    fun encode(opcode: Int, payload: ByteArray, fin: Boolean, rsv: Int, mask: Boolean): ByteArray {
        val out = ByteBuffer.allocate(14 + payload.size)
        out.put(((if (fin) 0x80 else 0) or ((rsv and 0x7) shl 4) or (opcode and 0xF)).toByte())
        val maskBit = if (mask) 0x80 else 0
        when {
            payload.size < 126 -> out.put((maskBit or payload.size).toByte())
            payload.size <= 0xFFFF -> out.put((maskBit or 126).toByte()).putShort(payload.size.toShort())
            else -> out.put((maskBit or 127).toByte()).putLong(payload.size.toLong())
        }
        if (mask) {
            val key = byteArrayOf(0x37, 0xFA.toByte(), 0x21, 0x3D)
            out.put(key)
            for (i in payload.indices) out.put((payload[i].toInt() xor key[i % 4].toInt()).toByte())
        } else {
            out.put(payload)
        }
        return out.array().copyOf(out.position())
    }

    /** A close frame's payload: the code (if any, big-endian) then the UTF-8 reason. */
    fun closePayload(code: Int?, reason: String): ByteArray {
        if (code == null) return ByteArray(0)
        return ByteBuffer.allocate(2).putShort(code.toShort()).array() + reason.toByteArray(Charsets.UTF_8)
    }

    /**
     * Reads one client frame; null on a clean EOF before its first byte. Checks what a frame alone can break: the
     * mask, reserved bits (no extension is ever negotiated), opcodes, control frame rules and [maxPayload].
     */
    fun readFrame(input: DataInputStream, maxPayload: Int): WireFrame? {
        val b0 = input.read()
        if (b0 < 0) return null
        val b1 = input.readUnsignedByte()
        val fin = b0 and 0x80 != 0
        val rsv = (b0 shr 4) and 0x7
        val opcode = b0 and 0xF
        val length = when (val len7 = b1 and 0x7F) {
            126 -> input.readUnsignedShort().toLong()
            127 -> input.readLong()
            else -> len7.toLong()
        }
        if (b1 and 0x80 == 0) throw ProtocolFault(1002, "client frame is not masked (RFC 6455 section 5.1)")
        if (rsv != 0) throw ProtocolFault(1002, "reserved bits $rsv set without a negotiated extension")
        if (opcode in 3..7 || opcode > 0xA) throw ProtocolFault(1002, "reserved opcode $opcode")
        val control = opcode >= 0x8
        if (control && (!fin || length > MAX_CONTROL_PAYLOAD)) {
            throw ProtocolFault(1002, "control frame (opcode $opcode) fragmented or over 125 bytes")
        }
        if (length < 0) throw ProtocolFault(1002, "frame length with the most significant bit set")
        if (length > maxPayload) throw ProtocolFault(1009, "frame of $length bytes is over the limit of $maxPayload")
        val key = ByteArray(4).also { input.readFully(it) }
        val payload = ByteArray(length.toInt()).also { input.readFully(it) }
        for (i in payload.indices) payload[i] = (payload[i].toInt() xor key[i % 4].toInt()).toByte()
        return WireFrame(fin, rsv, opcode, payload)
    }

    fun reasonPhrase(status: Int): String = when (status) {
        101 -> "Switching Protocols"
        200 -> "OK"
        301 -> "Moved Permanently"
        302 -> "Found"
        400 -> "Bad Request"
        401 -> "Unauthorized"
        403 -> "Forbidden"
        404 -> "Not Found"
        426 -> "Upgrade Required"
        429 -> "Too Many Requests"
        431 -> "Request Header Fields Too Large"
        500 -> "Internal Server Error"
        502 -> "Bad Gateway"
        503 -> "Service Unavailable"
        else -> "Status $status"
    }
}
