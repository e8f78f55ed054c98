package dev.parley.testkit

import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The JDK's own WebSocket client (java.net.http), not Parley, recording what it receives as strings in [events]:
 * `text:…`, `binary:<size>`, `ping:…`, `pong:…`, `close:<code>:<reason>`, `error:<exception class>`.
 */
class JdkClient private constructor(val ws: WebSocket, val events: LinkedBlockingQueue<String>) {
    /** The next event within 5 s, or fails. */
    fun next(): String = events.poll(5, TimeUnit.SECONDS) ?: throw AssertionError("no client event within 5 s")

    fun sendText(text: String) {
        ws.sendText(text, true).get(5, TimeUnit.SECONDS)
    }

    companion object {
        /** Opens the connection; the future fails as the JDK client reports a failed handshake. */
        fun open(
            uri: URI,
            subprotocols: List<String> = emptyList(),
            headers: Map<String, String> = emptyMap(),
        ): CompletableFuture<JdkClient> {
            val events = LinkedBlockingQueue<String>()
            val builder = HttpClient.newHttpClient().newWebSocketBuilder()
            headers.forEach { (k, v) -> builder.header(k, v) }
            if (subprotocols.isNotEmpty()) {
                builder.subprotocols(
                    subprotocols.first(),
                    *subprotocols.drop(1).toTypedArray(),
                )
            }
            return builder.buildAsync(uri, Recorder(events)).thenApply { JdkClient(it, events) }
        }

        fun connect(uri: URI, subprotocols: List<String> = emptyList()): JdkClient =
            open(uri, subprotocols).get(5, TimeUnit.SECONDS)
    }

    private class Recorder(val events: LinkedBlockingQueue<String>) : WebSocket.Listener {
        private val text = StringBuilder()
        private var binary = 0

        override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
            text.append(data)
            if (last) {
                events += "text:$text"
                text.setLength(0)
            }
            webSocket.request(1)
            return null
        }

        override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
            binary += data.remaining()
            if (last) {
                events += "binary:$binary"
                binary = 0
            }
            webSocket.request(1)
            return null
        }

        override fun onPing(webSocket: WebSocket, message: ByteBuffer): CompletionStage<*>? {
            events += "ping:" + Charsets.UTF_8.decode(message)
            webSocket.request(1)
            return null
        }

        override fun onPong(webSocket: WebSocket, message: ByteBuffer): CompletionStage<*>? {
            events += "pong:" + Charsets.UTF_8.decode(message)
            webSocket.request(1)
            return null
        }

        override fun onClose(webSocket: WebSocket, statusCode: Int, reason: String): CompletionStage<*>? {
            events += "close:$statusCode:$reason"
            return null
        }

        override fun onError(webSocket: WebSocket, error: Throwable) {
            events += "error:${error.javaClass.simpleName}"
        }
    }
}

/** A bytes-level client for what the JDK client will not send: masked or not, broken or not. */
class RawClient(uri: URI) : AutoCloseable {
    val socket = java.net.Socket(uri.host, uri.port).apply { soTimeout = 5_000 }
    private val input = java.io.DataInputStream(java.io.BufferedInputStream(socket.getInputStream()))

    /** Sends a valid upgrade request and reads the response head; returns its status line. */
    fun upgrade(): String {
        write(
            (
                "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).toByteArray(),
        )
        return readHead().first()
    }

    fun readHead(): List<String> {
        val lines = ArrayList<String>()
        val line = StringBuilder()
        while (true) {
            val b = input.read()
            if (b < 0) break
            if (b == '\n'.code) {
                val l = line.toString().trimEnd('\r')
                line.setLength(0)
                if (l.isEmpty()) break
                lines += l
            } else {
                line.append(b.toChar())
            }
        }
        return lines
    }

    fun write(bytes: ByteArray) {
        socket.getOutputStream().write(bytes)
        socket.getOutputStream().flush()
    }

    /** The next server frame as (opcode, payload); servers do not mask. */
    fun readFrame(): Pair<Int, ByteArray> {
        val b0 = input.readUnsignedByte()
        val b1 = input.readUnsignedByte()
        val len = when (val l = b1 and 0x7F) {
            126 -> input.readUnsignedShort()
            127 -> input.readLong().toInt()
            else -> l
        }
        return (b0 and 0xF) to ByteArray(len).also { input.readFully(it) }
    }

    override fun close() = socket.close()
}
