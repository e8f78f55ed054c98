package dev.parley.bench.clients

import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.bench.BenchClient
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.ReconnectingClient
import dev.parley.parleyOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.future.future
import kotlinx.coroutines.runBlocking
import java.net.URI
import java.util.concurrent.CompletableFuture
import kotlin.time.Duration.Companion.milliseconds

/** Parley through its Kotlin API: one standalone client per connection, default options. */
class ParleyKotlinClient : BenchClient, ReconnectingClient {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    override val notes = "Parley defaults; sends use trySend (suspending send only when the queue is full)"

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> {
        val client = Parley.start(InboundHandler(inbound), Unit, parleyOptions { url = uri.toString() })
        return scope.future {
            try {
                client.connect()
            } catch (e: Exception) {
                client.stop()
                throw e
            }
            ParleyConn(client)
        }
    }

    override fun startReconnecting(
        uri: URI,
        backoffMillis: Long,
        onConnected: () -> Unit,
        onDisconnected: () -> Unit,
    ): AutoCloseable {
        val handler =
            object : ParleyHandler<Unit> {
                override suspend fun onConnect(state: Unit): HandlerAction<Unit> {
                    onConnected()
                    return HandlerAction.Ok(state)
                }

                override suspend fun onDisconnect(reason: DisconnectReason, state: Unit): DisconnectDecision<Unit> {
                    onDisconnected()
                    return DisconnectDecision.Default(state)
                }
            }
        val options =
            parleyOptions {
                url = uri.toString()
                reconnect {
                    baseDelay = backoffMillis.milliseconds
                    maxDelay = backoffMillis.milliseconds
                }
            }
        val client = Parley.start(handler, Unit, options)
        return AutoCloseable { runBlocking { client.stop() } }
    }
}

private class InboundHandler(
    private val inbound: Inbound,
) : ParleyHandler<Unit> {
    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        when (frame) {
            is Frame.Text -> inbound.onMessage(false, frame.text.length)
            is Frame.Binary -> inbound.onMessage(true, frame.bytes.size)
            else -> Unit
        }
        return HandlerAction.Ok(state)
    }
}

private class ParleyConn(
    private val client: ParleyClient,
) : Conn {
    override fun sendText(text: String) = send(Frame.Text(text))

    override fun sendBinary(bytes: ByteArray) = send(Frame.Binary(bytes))

    // trySend is Parley's non-suspending entry point for callers outside coroutines; the driver is such a caller.
    private fun send(frame: Frame) {
        when (val result = client.trySend(frame)) {
            is SendResult.Enqueued -> Unit

            is SendResult.Rejected ->
                if (result.cause is SendQueueFullException) runBlocking { client.send(frame) } else throw result.cause
        }
    }

    override fun close() = runBlocking { client.stop() }
}
