package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.ReconnectingClient
import dev.parley.bench.Responder
import dev.parley.java.DisconnectInfo
import dev.parley.java.ParleyListener
import dev.parley.java.ParleyWebSocket
import dev.parley.java.ReconnectDecision
import dev.parley.java.Reply
import java.net.URI
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/**
 * Parley through its Java facade (CompletableFuture methods, listener callbacks on the default executor). In the
 * callback-driven workloads the listener answers with the non-blocking `ws.sendText`/`ws.sendBinary` (their futures
 * are not waited for).
 */
class ParleyJavaClient(
    private val tls: BenchTls?,
) : BenchClient, ReconnectingClient {
    override val notes = "Parley Java facade defaults (callbacks on the shared pool, serially per client)" +
        "; callback-driven replies: ws.sendText/sendBinary inside the listener" +
        if (tls != null) "; wss: builder.trustManager" else ""

    private fun builder(uri: URI) = ParleyWebSocket.builder(uri).apply { tls?.let { trustManager(it.trustManager) } }

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> {
        val listener =
            object : ParleyListener {
                override fun onText(reply: Reply, text: String) = inbound.onMessage(false, text.length)

                override fun onBinary(reply: Reply, data: ByteBuffer) = inbound.onMessage(true, data.remaining())
            }
        return opened(builder(uri).listener(listener).build())
    }

    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> {
        val listener =
            object : ParleyListener {
                /** Set before connect; callbacks come only after it. */
                @Volatile
                lateinit var conn: JavaConn

                override fun onText(reply: Reply, text: String) = responder.onMessage(false, text.length, conn)

                override fun onBinary(reply: Reply, data: ByteBuffer) =
                    responder.onMessage(true, data.remaining(), conn)
            }
        val ws = builder(uri).listener(listener).build()
        listener.conn = JavaConn(ws)
        return opened(ws)
    }

    private fun opened(ws: ParleyWebSocket): CompletableFuture<Conn> = ws
        .connect()
        .handle { _, e ->
            if (e != null) {
                ws.close()
                throw e
            }
            JavaConn(ws)
        }

    override fun startReconnecting(
        uri: URI,
        backoffMillis: Long,
        onConnected: () -> Unit,
        onDisconnected: () -> Unit,
    ): AutoCloseable {
        val listener =
            object : ParleyListener {
                override fun onConnect(reply: Reply) = onConnected()

                override fun onDisconnect(reason: DisconnectInfo): ReconnectDecision {
                    onDisconnected()
                    return ReconnectDecision.DEFAULT
                }
            }
        val backoff = Duration.ofMillis(backoffMillis)
        val ws = builder(uri).reconnect(backoff, backoff, -1).listener(listener).build()
        ws.connect()
        return ws
    }
}

private class JavaConn(
    private val ws: ParleyWebSocket,
) : Conn {
    override fun sendText(text: String) {
        ws.sendText(text)
    }

    override fun sendBinary(bytes: ByteArray) {
        ws.sendBinary(bytes)
    }

    override fun close() {
        ws.stop().get(5, TimeUnit.SECONDS)
        ws.close()
    }
}
