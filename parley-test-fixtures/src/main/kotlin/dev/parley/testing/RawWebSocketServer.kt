package dev.parley.testing

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.withTimeoutOrNull
import java.io.ByteArrayOutputStream
import java.io.InputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.security.MessageDigest
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import kotlin.concurrent.thread
import kotlin.time.Duration

/**
 * A hand-written, minimal RFC 6455 server on 127.0.0.1 for protocol faults that real servers refuse to produce
 * (unmasked-by-rule violations, reserved bits, bad opcodes, oversized control frames, bogus handshakes...).
 *
 * It only performs the opening handshake; everything after it is scripted by the test through the [RawPeer] that
 * [awaitConnection] hands out for each accepted TCP connection (in accept order).
 *
 * @param subprotocol selected in the 101 response when the client offers it.
 * @param answerUpgrade false: read the request and send nothing; the test may answer with [RawPeer.sendRaw].
 * @param statusLine the response status line; anything but a 101 is sent with `Content-Length: 0`, then the socket is
 *   closed (a rejection).
 * @param extraHeaders raw header lines (`"Name: value"`) appended to the response.
 * @param acceptOverride a `Sec-WebSocket-Accept` value to send instead of the correct one (handshake fault).
 */
class RawWebSocketServer(
    private val subprotocol: String? = null,
    private val answerUpgrade: Boolean = true,
    private val statusLine: String = SWITCHING_PROTOCOLS,
    private val extraHeaders: List<String> = emptyList(),
    private val acceptOverride: String? = null,
    /** The loopback address to listen on: `127.0.0.1`, or `::1` for IPv6. */
    private val host: String = LOOPBACK,
) : AutoCloseable {
    private val server = ServerSocket().apply {
        reuseAddress = true
        bind(InetSocketAddress(InetAddress.getByName(host), 0))
    }
    private val peers = Channel<RawPeer>(Channel.UNLIMITED)
    private val sockets = ConcurrentHashMap.newKeySet<Socket>()

    /** The bound ephemeral port. */
    val port: Int = server.localPort

    /** `ws://127.0.0.1:<port><path>`; the raw server accepts any path. */
    fun url(path: String = "/ws"): String = "ws://${if (':' in host) "[$host]" else host}:$port$path"

    init {
        thread(isDaemon = true, name = "raw-ws-accept-$port") {
            while (!server.isClosed) {
                val socket = runCatching { server.accept() }.getOrNull() ?: break
                sockets += socket
                // Handshake on its own thread so a client that never sends its request cannot block the next accept.
                thread(isDaemon = true, name = "raw-ws-handshake-$port") { handshake(socket) }
            }
        }
    }

    /** The next accepted connection (after its handshake was answered), waiting up to [timeout]. */
    suspend fun awaitConnection(timeout: Duration = DEFAULT_AWAIT): RawPeer =
        withTimeoutOrNull(timeout) { peers.receive() }
            ?: throw AssertionError("no connection to the raw WebSocket server within $timeout")

    /** Stops accepting and closes every accepted socket. */
    override fun close() {
        runCatching { server.close() }
        sockets.forEach { runCatching { it.close() } }
        peers.close()
    }

    private fun handshake(socket: Socket) {
        val request = runCatching {
            socket.soTimeout = HANDSHAKE_READ_TIMEOUT_MILLIS
            readRequestHead(socket.getInputStream())
        }.getOrElse {
            // Not even an HTTP request head arrived (client gave up or sent garbage): nothing to hand to the test.
            runCatching { socket.close() }
            return
        }
        val peer = RawPeer(socket, request)
        if (answerUpgrade) {
            val upgrade = statusLine.startsWith(SWITCHING_PROTOCOLS_PREFIX)
            val lines = mutableListOf(statusLine)
            if (upgrade) {
                lines += "Upgrade: websocket"
                lines += "Connection: Upgrade"
                val accept = acceptOverride ?: acceptKey(request.header("sec-websocket-key").orEmpty())
                lines += "Sec-WebSocket-Accept: $accept"
                if (subprotocol != null && subprotocol in request.offeredSubprotocols) {
                    lines += "Sec-WebSocket-Protocol: $subprotocol"
                }
            } else {
                lines += "Content-Length: 0"
                lines += "Connection: close"
            }
            lines += extraHeaders
            runCatching { peer.writeBlocking((lines.joinToString("\r\n") + "\r\n\r\n").encodeToByteArray()) }
            if (!upgrade) runCatching { socket.close() }
        }
        peers.trySend(peer)
    }

    companion object {
        /** Status line of a successful upgrade. */
        const val SWITCHING_PROTOCOLS: String = "HTTP/1.1 101 Switching Protocols"
        private const val SWITCHING_PROTOCOLS_PREFIX = "HTTP/1.1 101"
        private const val HANDSHAKE_READ_TIMEOUT_MILLIS = 5_000
        private const val MAX_HEAD_BYTES = 64 * 1024
        private const val WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

        /** `Sec-WebSocket-Accept` for [key] (RFC 6455 section 4.2.2): Base64(SHA-1(key + GUID)). */
        fun acceptKey(key: String): String {
            val sha1 = MessageDigest.getInstance("SHA-1").digest((key + WEBSOCKET_GUID).toByteArray())
            return Base64.getEncoder().encodeToString(sha1)
        }

        /** Reads up to and including the blank line that ends an HTTP head; fails on EOF or an oversized head. */
        internal fun readRequestHead(input: InputStream): RawHttpRequest {
            val head = ByteArrayOutputStream()
            var matched = 0 // how much of "\r\n\r\n" the tail matches
            while (matched < 4) {
                val b = input.read()
                check(b >= 0) { "EOF before the end of the HTTP request head" }
                check(head.size() < MAX_HEAD_BYTES) { "HTTP request head larger than $MAX_HEAD_BYTES bytes" }
                head.write(b)
                matched = when {
                    b == '\r'.code && matched % 2 == 0 -> matched + 1
                    b == '\n'.code && matched % 2 == 1 -> matched + 1
                    b == '\r'.code -> 1
                    else -> 0
                }
            }
            val lines = head.toString(Charsets.ISO_8859_1).split("\r\n").filter { it.isNotEmpty() }
            val headers = lines.drop(1).mapNotNull { line ->
                val colon = line.indexOf(':')
                if (colon <= 0) return@mapNotNull null
                line.substring(0, colon).trim().lowercase() to line.substring(colon + 1).trim()
            }.groupBy({ it.first }, { it.second })
            return RawHttpRequest(lines.firstOrNull() ?: "", headers)
        }
    }
}

/** The HTTP request head a raw server received: request line and headers (names lower-cased). */
data class RawHttpRequest(val requestLine: String, val headers: Map<String, List<String>>) {
    /** First value of header [name] (case-insensitive), or null. */
    fun header(name: String): String? = headers[name.lowercase()]?.firstOrNull()

    /** Subprotocols offered in `Sec-WebSocket-Protocol`, in order. */
    val offeredSubprotocols: List<String>
        get() = headers["sec-websocket-protocol"].orEmpty().flatMap { it.split(',') }.map { it.trim() }
}
