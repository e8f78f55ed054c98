package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import org.java_websocket.client.WebSocketClient
import org.java_websocket.handshake.ServerHandshake
import java.io.IOException
import java.net.URI
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture

/** Java-WebSocket (TooTallNate): a WebSocketClient per connection, which starts its own reader and writer threads. */
class JavaWebSocketBenchClient : BenchClient {
    override val notes = "Java-WebSocket defaults (Nagle on, lost-connection checker on: 60 s)"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> {
        val opened = CompletableFuture<Conn>()
        val client =
            object : WebSocketClient(uri) {
                override fun onOpen(handshake: ServerHandshake) {
                    opened.complete(JwsConn(this))
                }

                override fun onMessage(message: String) = inbound.onMessage(false, message.length)

                override fun onMessage(bytes: ByteBuffer) = inbound.onMessage(true, bytes.remaining())

                override fun onClose(code: Int, reason: String, remote: Boolean) {
                    opened.completeExceptionally(IOException("closed before open: $code $reason"))
                }

                override fun onError(ex: Exception) {
                    opened.completeExceptionally(ex)
                }
            }
        client.connect()
        return opened
    }
}

private class JwsConn(
    private val client: WebSocketClient,
) : Conn {
    override fun sendText(text: String) = client.send(text)

    override fun sendBinary(bytes: ByteArray) = client.send(bytes)

    override fun close() {
        client.closeBlocking()
    }
}
