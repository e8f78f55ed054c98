package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.Responder
import org.java_websocket.client.WebSocketClient
import org.java_websocket.drafts.Draft_6455
import org.java_websocket.extensions.permessage_deflate.PerMessageDeflateExtension
import org.java_websocket.handshake.ServerHandshake
import java.io.IOException
import java.net.URI
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture

/** Java-WebSocket (TooTallNate): a WebSocketClient per connection, which starts its own reader and writer threads. */
class JavaWebSocketBenchClient(
    private val tls: BenchTls?,
) : BenchClient {
    override val notes = "Java-WebSocket defaults (Nagle on, lost-connection checker on: 60 s)" +
        "; callback-driven replies: send inside onMessage" + if (tls != null) "; wss: setSocketFactory" else ""

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> = open(
        uri,
        { _, text -> inbound.onMessage(false, text.length) },
        { _, bytes -> inbound.onMessage(true, bytes.remaining()) },
    )

    // The reply is the connection itself: send from inside onMessage (on the client's reader thread).
    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> = open(
        uri,
        { conn, text -> responder.onMessage(false, text.length, conn) },
        { conn, bytes -> responder.onMessage(true, bytes.remaining(), conn) },
    )

    private fun open(
        uri: URI,
        onText: (Conn, String) -> Unit,
        onBytes: (Conn, ByteBuffer) -> Unit,
    ): CompletableFuture<Conn> {
        val opened = CompletableFuture<Conn>()
        val client =
            // Java-WebSocket offers permessage-deflate with this draft only: used for the deflate workloads.
            object : WebSocketClient(uri, if (uri.path.endsWith("-deflate")) deflateDraft() else Draft_6455()) {
                private val conn = JwsConn(this)

                override fun onOpen(handshake: ServerHandshake) {
                    opened.complete(conn)
                }

                override fun onMessage(message: String) = onText(conn, message)

                override fun onMessage(bytes: ByteBuffer) = onBytes(conn, bytes)

                override fun onClose(code: Int, reason: String, remote: Boolean) {
                    opened.completeExceptionally(IOException("closed before open: $code $reason"))
                }

                override fun onError(ex: Exception) {
                    opened.completeExceptionally(ex)
                }
            }
        tls?.let { client.setSocketFactory(it.sslContext.socketFactory) }
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

private fun deflateDraft() = Draft_6455(PerMessageDeflateExtension())
