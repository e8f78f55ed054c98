package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.TimeUnit

/** The JDK's java.net.http.WebSocket: one shared HttpClient, a Listener per connection that requests one at a time. */
class JdkBenchClient : BenchClient {
    private val http = HttpClient.newHttpClient()

    override val notes = "JDK defaults; sends are chained because the JDK allows one outstanding send per socket"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        http.newWebSocketBuilder().buildAsync(uri, JdkListener(inbound)).thenApply { JdkConn(it) }
}

/** Messages may arrive in parts; a message is whole when `last` is set. */
private class JdkListener(
    private val inbound: Inbound,
) : WebSocket.Listener {
    private var partial = 0

    override fun onText(webSocket: WebSocket, data: CharSequence, last: Boolean): CompletionStage<*>? {
        partial += data.length
        if (last) {
            inbound.onMessage(false, partial)
            partial = 0
        }
        webSocket.request(1)
        return null
    }

    override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
        partial += data.remaining()
        if (last) {
            inbound.onMessage(true, partial)
            partial = 0
        }
        webSocket.request(1)
        return null
    }
}

private class JdkConn(
    private val ws: WebSocket,
) : Conn {
    /** The JDK throws if a send starts before the previous one completed, so each send waits for the one before. */
    private var tail: CompletableFuture<*> = CompletableFuture.completedFuture(null)

    override fun sendText(text: String) = chain { ws.sendText(text, true) }

    override fun sendBinary(bytes: ByteArray) = chain { ws.sendBinary(ByteBuffer.wrap(bytes), true) }

    @Synchronized
    private fun chain(send: () -> CompletableFuture<WebSocket>) {
        tail = tail.thenCompose { send() }
    }

    override fun close() {
        val closing = synchronized(this) { tail.thenCompose { ws.sendClose(WebSocket.NORMAL_CLOSURE, "") } }
        runCatching { closing.get(2, TimeUnit.SECONDS) }
        ws.abort()
    }
}
