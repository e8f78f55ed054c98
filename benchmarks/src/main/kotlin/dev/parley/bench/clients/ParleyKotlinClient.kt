package dev.parley.bench.clients

import dev.parley.Compression
import dev.parley.DisconnectDecision
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.HandlerAction
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyHandler
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.TlsSettings
import dev.parley.bench.BenchClient
import dev.parley.bench.BenchTls
import dev.parley.bench.Conn
import dev.parley.bench.Inbound
import dev.parley.bench.ReconnectingClient
import dev.parley.bench.Reply
import dev.parley.bench.Responder
import dev.parley.parleyOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.future.future
import kotlinx.coroutines.runBlocking
import java.net.URI
import java.util.concurrent.CompletableFuture
import kotlin.time.Duration.Companion.milliseconds

/**
 * Parley through its Kotlin API: one standalone client per connection, default options. In the callback-driven
 * workloads the handler answers each echo with [HandlerAction.Push] returned from onFrame, or, with
 * [replyWithTrySend], with `client.trySend` called inside onFrame.
 */
class ParleyKotlinClient(
    private val benchTls: BenchTls?,
    private val replyWithTrySend: Boolean,
    /** Compresses every message (threshold 0) instead of those from 1,024 bytes, for the deflate workload's row. */
    private val compressAll: Boolean = false,
) : BenchClient, ReconnectingClient {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    override val notes =
        "Parley defaults; sends use trySend (suspending send only when the queue is full); callback-driven " +
            (if (replyWithTrySend) "replies: client.trySend inside onFrame" else "replies: HandlerAction.Push") +
            (if (benchTls != null) "; wss: TlsSettings(trustManager)" else "") +
            if (compressAll) "; compression = Compression(threshold = 0)" else ""

    private fun options(uri: URI) = parleyOptions {
        url = uri.toString()
        benchTls?.let { tls = TlsSettings(trustManager = it.trustManager) }
        if (compressAll) compression = Compression(threshold = 0)
    }

    override fun connect(uri: URI, inbound: Inbound): CompletableFuture<Conn> =
        opened(Parley.start(InboundHandler(inbound), Unit, options(uri)))

    override fun respond(uri: URI, responder: Responder): CompletableFuture<Conn> {
        val handler = RespondingHandler(responder, replyWithTrySend)
        return opened(Parley.start(handler, Unit, options(uri)).also { handler.client = it })
    }

    private fun opened(client: ParleyClient): CompletableFuture<Conn> = scope.future {
        try {
            client.connect()
        } catch (e: Exception) {
            client.stop()
            throw e
        }
        ParleyConn(client)
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

/** Answers from inside onFrame: frames collected for a [HandlerAction.Push], or handed to trySend at once. */
private class RespondingHandler(
    private val responder: Responder,
    private val trySend: Boolean,
) : ParleyHandler<Unit>,
    Reply {
    /** Set right after start; the first frame cannot arrive before connect, which comes later. */
    @Volatile
    lateinit var client: ParleyClient

    /** Callbacks never overlap, so one list serves every call (cleared before the action is returned). */
    private val pushes = ArrayList<Frame>(2)

    override suspend fun onFrame(frame: Frame, state: Unit): HandlerAction<Unit> {
        when (frame) {
            is Frame.Text -> responder.onMessage(false, frame.text.length, this)
            is Frame.Binary -> responder.onMessage(true, frame.bytes.size, this)
            else -> return HandlerAction.Ok(state)
        }
        return when (pushes.size) {
            0 -> HandlerAction.Ok(state)
            1 -> HandlerAction.Push(pushes[0], state).also { pushes.clear() }
            else -> HandlerAction.Push(pushes.toList(), state).also { pushes.clear() }
        }
    }

    override fun sendText(text: String) = reply(Frame.Text(text))

    override fun sendBinary(bytes: ByteArray) = reply(Frame.Binary(bytes))

    private fun reply(frame: Frame) {
        if (!trySend) {
            pushes += frame
            return
        }
        // Inside a callback a full queue cannot be waited for (the writer needs this thread): fail the run instead.
        val result = client.trySend(frame)
        if (result is SendResult.Rejected) throw result.cause
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
