package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.ReconnectingClient
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

/** Parley through its Java facade (CompletableFuture methods, listener callbacks on the default executor). */
class ParleyJavaClient : BenchClient, ReconnectingClient {
    override val notes = "Parley Java facade defaults (callbacks on the shared pool, serially per client)"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> {
        val listener =
            object : ParleyListener {
                override fun onText(reply: Reply, text: String) = inbound.onMessage(false, text.length)

                override fun onBinary(reply: Reply, data: ByteBuffer) = inbound.onMessage(true, data.remaining())
            }
        val ws = ParleyWebSocket.builder(uri).listener(listener).build()
        return ws
            .connect()
            .handle { _, e ->
                if (e != null) {
                    ws.close()
                    throw e
                }
                JavaConn(ws)
            }
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
        val ws = ParleyWebSocket.builder(uri).reconnect(backoff, backoff, -1).listener(listener).build()
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
