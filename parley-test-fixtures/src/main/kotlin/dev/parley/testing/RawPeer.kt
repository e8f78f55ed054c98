package dev.parley.testing

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import java.io.BufferedInputStream
import java.io.DataInputStream
import java.io.EOFException
import java.net.Socket
import java.net.SocketTimeoutException
import java.nio.ByteBuffer
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.TimeSource

/** WebSocket opcodes (RFC 6455 section 5.2), including reserved ones for fault tests. */
object WsOpcode {
    const val CONTINUATION: Int = 0x0
    const val TEXT: Int = 0x1
    const val BINARY: Int = 0x2
    const val CLOSE: Int = 0x8
    const val PING: Int = 0x9
    const val PONG: Int = 0xA
}

/** One decoded client frame: flags, opcode and the unmasked payload. */
class RawFrame(val fin: Boolean, val rsv: Int, val opcode: Int, val payload: ByteArray) {
    /** Payload as UTF-8 text. */
    val text: String get() = payload.decodeToString()

    /** Status code of a close frame, or null when the payload has none. */
    val closeCode: Int? get() = if (payload.size >= 2) ByteBuffer.wrap(payload).short.toInt() and 0xFFFF else null

    /** Reason of a close frame ("" when absent). */
    val closeReason: String get() = if (payload.size > 2) payload.copyOfRange(2, payload.size).decodeToString() else ""

    override fun toString(): String = "RawFrame(fin=$fin, rsv=$rsv, opcode=$opcode, payload=${payload.size} bytes)"
}

/**
 * The server side of one connection to [RawWebSocketServer], scripted by the test.
 *
 * All I/O helpers are suspend functions that run the blocking socket call on [Dispatchers.IO], so a test coroutine
 * never blocks its own thread; every read is bounded by a timeout.
 */
class RawPeer internal constructor(private val socket: Socket, val request: RawHttpRequest) : AutoCloseable {
    private val input = DataInputStream(BufferedInputStream(socket.getInputStream()))
    private val output = socket.getOutputStream()

    /** Sends one frame, unmasked unless [mask] (a server must not mask: true is a fault for the client to catch). */
    suspend fun sendFrame(
        opcode: Int,
        payload: ByteArray = ByteArray(0),
        fin: Boolean = true,
        rsv: Int = 0,
        mask: Boolean = false,
    ) = sendRaw(encodeFrame(opcode, payload, fin, rsv, mask))

    /** Sends a final text frame. */
    suspend fun sendText(text: String) = sendFrame(WsOpcode.TEXT, text.encodeToByteArray())

    /** Sends a close frame with [code] and [reason]. */
    suspend fun sendClose(code: Int, reason: String = "") = sendFrame(
        WsOpcode.CLOSE,
        ByteBuffer.allocate(2).putShort(code.toShort()).array() + reason.encodeToByteArray(),
    )

    /**
     * A valid `101 Switching Protocols` head for this peer's request, for a server built with `answerUpgrade = false`:
     * [extraHeaderLines] (each ending in CRLF) go after the handshake headers, before the empty line.
     */
    fun switchingProtocolsHead(extraHeaderLines: String = ""): String {
        val key = checkNotNull(request.header("sec-websocket-key")) { "the request has no Sec-WebSocket-Key" }
        return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: ${RawWebSocketServer.acceptKey(key)}\r\n" + extraHeaderLines + "\r\n"
    }

    /** Writes [bytes] to the socket as they are. */
    suspend fun sendRaw(bytes: ByteArray): Unit = withContext(Dispatchers.IO) { writeBlocking(bytes) }

    internal fun writeBlocking(bytes: ByteArray) = synchronized(output) {
        output.write(bytes)
        output.flush()
    }

    /**
     * Reads and decodes the next client frame within [timeout]. Fails with an [AssertionError] on timeout, on EOF,
     * and when the frame is not masked (clients must mask every frame, RFC 6455 section 5.1).
     */
    suspend fun readFrame(timeout: Duration = DEFAULT_AWAIT): RawFrame = withContext(Dispatchers.IO) {
        try {
            socket.soTimeout = timeout.inWholeMilliseconds.toInt().coerceAtLeast(1)
            decodeFrame(input)
        } catch (e: SocketTimeoutException) {
            throw AssertionError("no client frame within $timeout", e)
        } catch (e: EOFException) {
            throw AssertionError("client closed the connection instead of sending a frame", e)
        }
    }

    /** Waits up to [timeout] for the client to close TCP (EOF), discarding whatever it sends meanwhile. */
    suspend fun awaitClosedByClient(timeout: Duration = DEFAULT_AWAIT): Unit = withContext(Dispatchers.IO) {
        val deadline = TimeSource.Monotonic.markNow() + timeout
        val sink = ByteArray(DISCARD_BUFFER)
        while (true) {
            val left = -deadline.elapsedNow()
            if (!left.isPositive()) throw AssertionError("client did not close TCP within $timeout")
            socket.soTimeout = left.inWholeMilliseconds.toInt().coerceAtLeast(1)
            val n = try {
                input.read(sink)
            } catch (_: SocketTimeoutException) {
                continue // the deadline check above turns this into the failure
            } catch (_: java.io.IOException) {
                -1 // a reset from the client also means it is gone
            }
            if (n < 0) return@withContext
        }
    }

    /** Drops the connection with a TCP RST (SO_LINGER 0): no close frame, no FIN handshake. */
    fun closeAbruptly() {
        runCatching { socket.setSoLinger(true, 0) }
        runCatching { socket.close() }
    }

    /** Closes the socket normally (FIN), without any WebSocket close frame. */
    override fun close() {
        runCatching { socket.close() }
    }

    internal companion object {
        private const val DISCARD_BUFFER = 4096

        fun encodeFrame(opcode: Int, payload: ByteArray, fin: Boolean, rsv: Int, mask: Boolean): ByteArray {
            val header = ByteBuffer.allocate(14)
            header.put(((if (fin) 0x80 else 0) or ((rsv and 0x7) shl 4) or (opcode and 0xF)).toByte())
            val maskBit = if (mask) 0x80 else 0
            when {
                payload.size < 126 -> header.put((maskBit or payload.size).toByte())
                payload.size <= 0xFFFF -> header.put((maskBit or 126).toByte()).putShort(payload.size.toShort())
                else -> header.put((maskBit or 127).toByte()).putLong(payload.size.toLong())
            }
            var body = payload
            if (mask) {
                val key = Random.nextBytes(4)
                header.put(key)
                body = ByteArray(payload.size) { i -> (payload[i].toInt() xor key[i % 4].toInt()).toByte() }
            }
            return header.array().copyOf(header.position()) + body
        }

        fun decodeFrame(data: DataInputStream): RawFrame {
            val b0 = data.readUnsignedByte()
            val b1 = data.readUnsignedByte()
            if (b1 and 0x80 == 0) throw AssertionError("client frame is not masked (RFC 6455 section 5.1)")
            val length = when (val len7 = b1 and 0x7F) {
                126 -> data.readUnsignedShort().toLong()
                127 -> data.readLong()
                else -> len7.toLong()
            }
            check(length <= Int.MAX_VALUE) { "client frame of $length bytes is too large for a test" }
            val key = ByteArray(4).also { data.readFully(it) }
            val payload = ByteArray(length.toInt()).also { data.readFully(it) }
            for (i in payload.indices) payload[i] = (payload[i].toInt() xor key[i % 4].toInt()).toByte()
            return RawFrame(fin = b0 and 0x80 != 0, rsv = (b0 shr 4) and 0x7, opcode = b0 and 0xF, payload = payload)
        }
    }
}
