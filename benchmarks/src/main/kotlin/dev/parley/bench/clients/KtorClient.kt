package dev.parley.bench.clients

import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.Reply
import dev.parley.bench.Responder
import io.ktor.client.HttpClient
import io.ktor.client.engine.cio.CIO
import io.ktor.client.engine.cio.endpoint
import io.ktor.client.plugins.websocket.DefaultClientWebSocketSession
import io.ktor.client.plugins.websocket.WebSockets
import io.ktor.client.plugins.websocket.webSocketSession
import io.ktor.websocket.Frame
import io.ktor.websocket.close
import io.ktor.websocket.readText
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.future.future
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import java.net.URI
import java.util.concurrent.CompletableFuture

/**
 * Ktor's CIO engine used directly, the engine Parley runs on: one shared HttpClient, a DefaultClientWebSocketSession
 * per connection, and a coroutine per connection reading its incoming channel. This is the baseline of every ratio.
 */
class KtorClient(
    tls: BenchTls?,
) : BenchClient {
    private val http =
        HttpClient(CIO) {
            engine {
                // Each open WebSocket holds one of CIO's connection permits (defaults: 1,000, and 100 per route).
                maxConnectionsCount = MAX_CONNECTIONS
                endpoint { maxConnectionsPerRoute = MAX_CONNECTIONS }
                if (tls != null) https { trustManager = tls.trustManager }
            }
            install(WebSockets)
        }
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    override val notes = "Ktor defaults, except maxConnectionsCount = maxConnectionsPerRoute = $MAX_CONNECTIONS" +
        "; callback-driven replies: outgoing.send from the loop reading incoming"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> = scope.future {
        val session = http.webSocketSession(uri.toString())
        scope.launch {
            for (frame in session.incoming) {
                when (frame) {
                    is Frame.Text -> inbound.onMessage(false, frame.readText().length)
                    is Frame.Binary -> inbound.onMessage(true, frame.data.size)
                    else -> Unit
                }
            }
        }
        KtorConn(session)
    }

    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> = scope.future {
        val session = http.webSocketSession(uri.toString())
        scope.launch {
            // Ktor's idiom for answering: the coroutine that reads incoming sends the answer before it reads on.
            val reply = Replies()
            for (frame in session.incoming) {
                when (frame) {
                    is Frame.Text -> responder.onMessage(false, frame.readText().length, reply)
                    is Frame.Binary -> responder.onMessage(true, frame.data.size, reply)
                    else -> Unit
                }
                for (answer in reply.frames) session.outgoing.send(answer)
                reply.frames.clear()
            }
        }
        KtorConn(session)
    }

    override fun close() = http.close()

    private companion object {
        const val MAX_CONNECTIONS = 20_000
    }
}

/** What a responder sent inside one call, for the incoming loop to send when the call returns. */
private class Replies : Reply {
    val frames = ArrayList<Frame>(2)

    override fun sendText(text: String) {
        frames += Frame.Text(text)
    }

    override fun sendBinary(bytes: ByteArray) {
        frames += Frame.Binary(true, bytes)
    }
}

private class KtorConn(
    private val session: DefaultClientWebSocketSession,
) : Conn {
    override fun sendText(text: String) = send(Frame.Text(text))

    override fun sendBinary(bytes: ByteArray) = send(Frame.Binary(true, bytes))

    // Ktor's outgoing channel is unbounded by default, so trySend from a plain thread always succeeds; the fallback is
    // there only in case a future default bounds it.
    private fun send(frame: Frame) {
        if (!session.outgoing.trySend(frame).isSuccess) runBlocking { session.outgoing.send(frame) }
    }

    override fun close() = runBlocking {
        withTimeoutOrNull(CLOSE_TIMEOUT_MS) { session.close() }
        Unit
    }

    private companion object {
        const val CLOSE_TIMEOUT_MS = 2_000L
    }
}
