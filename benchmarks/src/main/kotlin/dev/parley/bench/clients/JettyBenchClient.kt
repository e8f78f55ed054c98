package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.Responder
import org.eclipse.jetty.client.HttpClient
import org.eclipse.jetty.util.ssl.SslContextFactory
import org.eclipse.jetty.websocket.api.Callback
import org.eclipse.jetty.websocket.api.Session
import org.eclipse.jetty.websocket.client.ClientUpgradeRequest
import org.eclipse.jetty.websocket.client.WebSocketClient
import java.net.URI
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/** Jetty 12.1's WebSocket client: one shared WebSocketClient, an auto-demanding listener per connection. */
class JettyBenchClient(
    tls: BenchTls?,
) : BenchClient {
    private val client =
        (if (tls == null) WebSocketClient() else WebSocketClient(trusting(tls))).apply {
            // Jetty closes a connection idle for 30 s by default; the idle workload holds connections longer than that.
            idleTimeout = Duration.ZERO
            start()
        }

    override val notes = "Jetty defaults, except idleTimeout = 0 (none; default 30 s)" +
        "; permessage-deflate offered on the deflate workloads only (Jetty offers it when asked)" +
        "; callback-driven replies: session.sendText/sendBinary inside the listener"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        client.connect(JettyListener(inbound), uri, upgrade(uri)).thenApply { JettyConn(it) }

    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> =
        client.connect(JettyRespondingListener(responder), uri, upgrade(uri)).thenApply { JettyConn(it) }

    /** Jetty offers permessage-deflate only when asked: it is, for the deflate workloads (`/echo-deflate`). */
    private fun upgrade(uri: URI) = ClientUpgradeRequest().apply {
        if (uri.path.endsWith("-deflate")) addExtensions("permessage-deflate")
    }

    override fun close() = client.stop()

    /** An HttpClient whose TLS trusts the echo server's certificate (hostname verification stays on). */
    private fun trusting(tls: BenchTls) = HttpClient().apply {
        sslContextFactory = SslContextFactory.Client().apply { sslContext = tls.sslContext }
    }
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

// Public for the same reason. The reply is the session: sendText/sendBinary from inside the listener's callback.
class JettyRespondingListener(
    private val responder: Responder,
) : Session.Listener.AutoDemanding {
    /** Set in onWebSocketOpen, which Jetty calls before any message callback. */
    @Volatile
    private lateinit var conn: Conn

    override fun onWebSocketOpen(session: Session) {
        conn = JettyConn(session)
    }

    override fun onWebSocketText(message: String) = responder.onMessage(false, message.length, conn)

    override fun onWebSocketBinary(payload: ByteBuffer, callback: Callback) {
        responder.onMessage(true, payload.remaining(), conn)
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
