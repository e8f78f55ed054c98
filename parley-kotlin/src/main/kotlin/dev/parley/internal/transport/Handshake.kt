package dev.parley.internal.transport

import dev.parley.internal.ParleyVersion
import dev.parley.transport.HandshakeRejectedException
import dev.parley.transport.OpenRequest
import dev.parley.transport.expectedWebSocketAccept
import java.net.URI
import java.security.SecureRandom
import java.util.Base64

/** The client's half of the RFC 6455 §4 opening handshake: the request, and the checks a 101 response must pass. */
internal object Handshake {
    private val keys = SecureRandom()

    /** A fresh Sec-WebSocket-Key: 16 random bytes, base64. */
    fun newKey(): String = Base64.getEncoder().encodeToString(ByteArray(16).also(keys::nextBytes))

    /** The upgrade request for [request], ready for the wire (ISO-8859-1: header values were checked for CR/LF). */
    fun requestBytes(request: OpenRequest, key: String): ByteArray {
        // The request target must be ASCII: toASCIIString() percent-encodes what a URI may hold beyond it (ä → %C3%A4).
        val uri = URI(request.uri.toASCIIString())
        val target = (uri.rawPath?.takeIf { it.isNotEmpty() } ?: "/") + (uri.rawQuery?.let { "?$it" } ?: "")
        val text =
            buildString(256) {
                append("GET ").append(target).append(" HTTP/1.1\r\n")
                append("Host: ").append(hostHeader(uri)).append("\r\n")
                append("Upgrade: websocket\r\n")
                append("Connection: Upgrade\r\n")
                append("Sec-WebSocket-Key: ").append(key).append("\r\n")
                append("Sec-WebSocket-Version: 13\r\n")
                if (request.subprotocols.isNotEmpty()) {
                    append("Sec-WebSocket-Protocol: ").append(request.subprotocols.joinToString(", ")).append("\r\n")
                }
                if (request.headers.none { it.first.equals("user-agent", ignoreCase = true) }) {
                    append("User-Agent: ").append(ParleyVersion.userAgent).append("\r\n")
                }
                for ((name, value) in request.headers) append(name).append(": ").append(value).append("\r\n")
                append("\r\n")
            }
        return text.toByteArray(Charsets.ISO_8859_1)
    }

    /**
     * Checks a response as RFC 6455 §4.1 asks a client to; [headers] have lower-case names. Extensions are checked by
     * the client for every transport (DeflateNegotiation).
     *
     * @throws HandshakeRejectedException when the server did not accept the upgrade we asked for.
     */
    fun checkResponse(
        status: Int,
        reasonPhrase: String,
        headers: Map<String, List<String>>,
        request: OpenRequest,
        key: String,
    ) {
        fun reject(message: String): Nothing = throw HandshakeRejectedException(status, headers, message)
        if (status != 101) reject("expected HTTP 101 but was $status $reasonPhrase".trimEnd())
        val upgrade = headers["upgrade"]?.joinToString(",")
        if (upgrade == null || !upgrade.trim().equals("websocket", ignoreCase = true)) {
            reject("expected 'Upgrade: websocket' but was '$upgrade'")
        }
        val connection = headers["connection"].orEmpty().flatMap { it.split(',') }.map { it.trim() }
        if (connection.none { it.equals("upgrade", ignoreCase = true) }) {
            reject("expected 'Connection: Upgrade' but was '${connection.joinToString()}'")
        }
        val accept = headers["sec-websocket-accept"]?.singleOrNull()
        val expected = expectedWebSocketAccept(key)
        if (accept != expected) reject("expected Sec-WebSocket-Accept $expected but was $accept")
        val selected = headers["sec-websocket-protocol"]?.joinToString(",")
        if (selected != null && selected !in request.subprotocols) {
            reject("server selected subprotocol '$selected', which was not offered")
        }
    }

    /** The Host header: the port only when it is not the scheme's default (RFC 6455 §4.1 item 4). */
    private fun hostHeader(uri: URI): String {
        val port = uri.port
        val default = if (uri.scheme.equals("wss", ignoreCase = true)) 443 else 80
        return if (port == -1 || port == default) uri.host else "${uri.host}:$port"
    }
}
