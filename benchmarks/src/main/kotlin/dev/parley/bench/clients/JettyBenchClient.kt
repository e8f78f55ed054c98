package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import org.eclipse.jetty.websocket.api.Callback
import org.eclipse.jetty.websocket.api.Session
import org.eclipse.jetty.websocket.client.WebSocketClient
import java.net.URI
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/** Jetty 12.1's WebSocket client: one shared WebSocketClient, an auto-demanding listener per connection. */
class JettyBenchClient : BenchClient {
    private val client =
        WebSocketClient().apply {
            // Jetty closes a connection idle for 30 s by default; the idle workload holds connections longer than that.
            idleTimeout = Duration.ZERO
            start()
        }

    override val notes = "Jetty defaults, except idleTimeout = 0 (none; default 30 s)"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        client.connect(JettyListener(inbound), uri).thenApply { JettyConn(it) }

    override fun close() = client.stop()
}

// Public: Jetty calls listener methods through method handles, which need a public class.
class JettyListener(
    private val inbound: Inbound,
) : Session.Listener.AutoDemanding {
    override fun onWebSocketText(message: String) = inbound.onMessage(false, message.length)

    override fun onWebSocketBinary(payload: ByteBuffer, callback: Callback) {
        inbound.onMessage(true, payload.remaining())
        callback.succeed()
    }
}

private class JettyConn(
    private val session: Session,
) : Conn {
    override fun sendText(text: String) = session.sendText(text, Callback.NOOP)

    override fun sendBinary(bytes: ByteArray) = session.sendBinary(ByteBuffer.wrap(bytes), Callback.NOOP)

    override fun close() {
        val done = CompletableFuture<Void?>()
        session.close(1000, "", Callback.from({ done.complete(null) }, { done.completeExceptionally(it) }))
        runCatching { done.get(2, TimeUnit.SECONDS) }
    }
}
