package dev.parley.internal.transport

import dev.parley.CloseCodes
import dev.parley.ParleyOptions
import dev.parley.TlsSettings
import io.ktor.client.HttpClient
import io.ktor.client.call.body
import io.ktor.client.engine.cio.CIO
import io.ktor.client.engine.cio.endpoint
import io.ktor.client.plugins.websocket.ClientWebSocketSession
import io.ktor.client.plugins.websocket.WebSockets
import io.ktor.client.request.header
import io.ktor.client.request.prepareRequest
import io.ktor.client.request.url
import io.ktor.client.statement.HttpResponse
import io.ktor.http.HttpHeaders
import io.ktor.http.HttpStatusCode
import io.ktor.websocket.Frame
import io.ktor.websocket.FrameTooBigException
import io.ktor.websocket.FrameType
import io.ktor.websocket.ProtocolViolationException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.DelicateCoroutinesApi
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.delay
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import java.io.EOFException
import java.io.IOException
import java.security.MessageDigest
import java.util.Base64
import kotlin.time.Duration

/*
 * Why a raw session: Ktor's DefaultClientWebSocketSession answers pings itself, hides pongs, decodes text leniently
 * and has no close timeout. Asking the WebSockets plugin for a plain ClientWebSocketSession gives the engine's raw
 * session instead (CIO: RawWebSocketJvm), which hands over every frame, control frames included, and leaves pongs,
 * close replies, reassembly and validation to Parley. This works through the plugin, not a CIO-only builder, so any
 * engine can be plugged in; engines whose sessions are not raw (e.g. OkHttp's) will answer pings themselves.
 */

/** Opens WebSocket connections through a Ktor [HttpClient]. */
internal class KtorTransport(
    options: ParleyOptions,
) : Transport {
    private val ownsClient: Boolean
    private val client: HttpClient

    init {
        val given = options.httpClient
        when {
            given != null -> {
                // Shares the caller's engine; closing this derived client leaves that engine alone.
                client = given.config { installWebSockets(options) }
                ownsClient = true
            }

            options.tls == TlsSettings() -> {
                client = SharedClient.forMaxFrameSize(options.maxFrameSize)
                ownsClient = false
            }

            else -> {
                client = cioClient(options.maxFrameSize, options.tls)
                ownsClient = true
            }
        }
    }

    override suspend fun open(request: OpenRequest): TransportSession {
        val result = CompletableDeferred<KtorSession>()
        // The HTTP call must stay open for as long as the WebSocket lives, so it runs in its own coroutine; cancelling
        // that coroutine (abort) ends the call and releases the socket and the engine's connection permit.
        val call =
            client.launch(CoroutineName("parley-ws")) {
                try {
                    client
                        .prepareRequest {
                            url(request.uri.toString())
                            for ((name, value) in request.headers) header(name, value)
                            if (request.subprotocols.isNotEmpty()) {
                                header(HttpHeaders.SecWebSocketProtocol, request.subprotocols.joinToString(", "))
                            }
                        }.execute { response ->
                            val session = upgrade(response, request)
                            val ended = CompletableDeferred<Unit>()
                            result.complete(KtorSession(session, response, coroutineContext[Job]!!))
                            ended.await() // until abort() cancels this call
                        }
                } catch (e: Throwable) {
                    result.completeExceptionally(e)
                }
            }
        try {
            return result.await()
        } catch (e: CancellationException) {
            call.cancel()
            throw e
        }
    }

    /** Checks the 101 response as RFC 6455 §4.1 asks, then takes the engine's raw session. */
    private suspend fun upgrade(response: HttpResponse, request: OpenRequest): ClientWebSocketSession {
        val headers = response.lowerCaseHeaders()
        if (response.status != HttpStatusCode.SwitchingProtocols) {
            throw HandshakeRejectedException(
                response.status.value,
                headers,
                "expected HTTP 101 but was ${response.status.value} ${response.status.description}",
            )
        }
        // Ktor does not verify Sec-WebSocket-Accept for us.
        val key = response.call.request.content.headers[HttpHeaders.SecWebSocketKey]
        val accept = response.headers[HttpHeaders.SecWebSocketAccept]
        if (key == null || accept != expectedAccept(key)) {
            throw HandshakeRejectedException(
                101,
                headers,
                "expected Sec-WebSocket-Accept ${key?.let(::expectedAccept)} but was $accept",
            )
        }
        val selected = response.headers[HttpHeaders.SecWebSocketProtocol]
        if (selected != null && selected !in request.subprotocols) {
            throw HandshakeRejectedException(
                101,
                headers,
                "server selected subprotocol '$selected', which was not offered",
            )
        }
        if (response.headers[HttpHeaders.SecWebSocketExtensions] != null) {
            throw HandshakeRejectedException(101, headers, "server selected an extension, but none was offered")
        }
        return response.body()
    }

    override fun close() {
        if (ownsClient) client.close()
    }

    private class KtorSession(
        private val session: ClientWebSocketSession,
        response: HttpResponse,
        private val call: Job,
    ) : TransportSession {
        override val subprotocol: String? = response.headers[HttpHeaders.SecWebSocketProtocol]
        override val responseHeaders: Map<String, List<String>> = response.lowerCaseHeaders()

        /** Whether the last data frame left a message unfinished: Ktor reports continuations with the message's type. */
        private var midMessage = false

        /** Set once our close frame is handed to Ktor, whose writer then closes the outgoing channel by design. */
        private var closeWritten = false

        /**
         * Completed with the failure once the inbound side has ended. Ktor's writer can stay stuck on a socket the
         * peer has reset (its flush never returns), so writes and flushes race against this to fail promptly.
         */
        private val ended = CompletableDeferred<Throwable>()

        override suspend fun receive(): WireFrame? {
            val result = session.incoming.receiveCatching()
            val frame = result.getOrNull()
            if (frame == null) {
                val failure = receiveFailure(result.exceptionOrNull())
                ended.complete(failure ?: EOFException("the peer closed the connection"))
                if (failure != null) throw failure
                return null
            }
            val opcode =
                when (frame.frameType) {
                    FrameType.TEXT, FrameType.BINARY -> dataOpcode(frame)
                    FrameType.CLOSE -> Opcode.CLOSE
                    FrameType.PING -> Opcode.PING
                    FrameType.PONG -> Opcode.PONG
                }
            val rsv = (if (frame.rsv1) 4 else 0) or (if (frame.rsv2) 2 else 0) or (if (frame.rsv3) 1 else 0)
            return WireFrame(opcode, frame.data, frame.fin, rsv)
        }

        private suspend fun receiveFailure(cause: Throwable?): Throwable? = when (cause) {
            null -> null

            // Ktor's raw session has already queued its own close frame for these two.
            is FrameTooBigException ->
                TransportProtocolException(CloseCodes.MESSAGE_TOO_BIG, cause.message, cause, closeSent = true)

            is ProtocolViolationException ->
                TransportProtocolException(CloseCodes.PROTOCOL_ERROR, cause.message, cause, closeSent = true)

            else -> cause.unlessOurCancellation()
        }

        private fun dataOpcode(frame: Frame): Opcode {
            val continuation = midMessage
            midMessage = !frame.fin
            return when {
                continuation -> Opcode.CONTINUATION
                frame.frameType == FrameType.TEXT -> Opcode.TEXT
                else -> Opcode.BINARY
            }
        }

        override suspend fun write(frame: WireFrame) {
            val type =
                when (frame.opcode) {
                    Opcode.TEXT -> FrameType.TEXT
                    Opcode.BINARY, Opcode.CONTINUATION -> FrameType.BINARY
                    Opcode.CLOSE -> FrameType.CLOSE
                    Opcode.PING -> FrameType.PING
                    Opcode.PONG -> FrameType.PONG
                }
            if (frame.opcode == Opcode.CLOSE) closeWritten = true
            val ktorFrame = Frame.byType(frame.fin, type, frame.payload, false, false, false)
            // Fast path: room in the bounded outgoing channel means no waiting, so nothing to race.
            if (session.outgoing.trySend(ktorFrame).isSuccess) return
            untilEnded { session.outgoing.send(ktorFrame) }
        }

        override suspend fun flush() {
            untilEnded { session.flush() }
            // Ktor's flush returns normally when its writer has already died; outgoing closed without our close frame
            // means the frames may not have reached the socket.
            @OptIn(DelicateCoroutinesApi::class)
            if (!closeWritten && session.outgoing.isClosedForSend) {
                throw IOException("the connection closed before the frames were flushed")
            }
        }

        /** Runs [block] unless the connection ends first; then fails with the reason it ended. */
        private suspend fun untilEnded(block: suspend () -> Unit) {
            if (ended.isCompleted) {
                @OptIn(ExperimentalCoroutinesApi::class)
                throw IOException("connection lost", ended.getCompleted())
            }
            try {
                coroutineScope {
                    val work = async { block() }
                    select<Unit> {
                        work.onAwait { }
                        ended.onAwait { cause ->
                            work.cancel()
                            throw IOException("connection lost before the frames were written", cause)
                        }
                    }
                }
            } catch (e: IOException) {
                throw e
            } catch (e: Throwable) {
                throw e.unlessOurCancellation()
            }
        }

        override fun release(linger: Duration) {
            // Ktor's flush means our bytes reached CIO's socket channel, not the kernel: CIO's socket writer drains it
            // asynchronously, and cancelling the call closes the socket and cancels that writer at once, which can
            // lose the close frame. So the call ends a moment later, off the caller's path.
            lingering.launch {
                delay(linger)
                abort()
            }
        }

        override fun abort() {
            // The session's own job is a child of the call; cancelling the call closes the socket and releases the
            // engine's connection permit at once (Endpoint's completion handler), and ends the execute block.
            session.call.cancel()
            call.cancel()
        }

        /**
         * Ktor closes its channels with a CancellationException that wraps the real I/O failure. Rethrow a genuine
         * cancellation of our own coroutine; turn the rest into an IOException carrying the cause.
         */
        private suspend fun Throwable.unlessOurCancellation(): Throwable {
            currentCoroutineContext().ensureActive()
            if (this !is CancellationException) return this
            return IOException(message ?: "connection closed", cause ?: this)
        }
    }

    private companion object {
        const val WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

        fun expectedAccept(key: String): String {
            val sha1 = MessageDigest.getInstance("SHA-1").digest((key + WEBSOCKET_GUID).toByteArray(Charsets.US_ASCII))
            return Base64.getEncoder().encodeToString(sha1)
        }

        fun HttpResponse.lowerCaseHeaders(): Map<String, List<String>> =
            headers.entries().associate { (k, v) -> k.lowercase() to v }
    }
}

/**
 * Parley's own CIO clients. Clients with default TLS share one per frame-size limit, so thousands of Parley clients
 * share one engine (one selector thread, one I/O dispatcher) instead of each starting its own.
 */
private object SharedClient {
    private val clients = java.util.concurrent.ConcurrentHashMap<Long, HttpClient>()

    fun forMaxFrameSize(maxFrameSize: Long): HttpClient = clients.computeIfAbsent(maxFrameSize) {
        cioClient(it, TlsSettings())
    }
}

private fun cioClient(maxFrameSize: Long, tls: TlsSettings): HttpClient = HttpClient(CIO) {
    expectSuccess = false
    followRedirects = false
    engine {
        // Each open WebSocket holds a connection permit; Ktor's defaults (1000, 100 per route) would cap a
        // process at 100 connections to one server.
        maxConnectionsCount = MAX_CONNECTIONS
        endpoint {
            maxConnectionsPerRoute = MAX_CONNECTIONS
            // Parley bounds DNS + TCP + TLS + upgrade with its own connectTimeout; CIO's 5 s must not cut in first.
            connectTimeout = Long.MAX_VALUE
            connectAttempts = 1
        }
        https {
            tls.trustManager?.let { trustManager = it }
            tls.serverName?.let { serverName = it }
        }
    }
    installWebSockets(maxFrameSize)
}

private fun io.ktor.client.HttpClientConfig<*>.installWebSockets(options: ParleyOptions) =
    installWebSockets(options.maxFrameSize)

private fun io.ktor.client.HttpClientConfig<*>.installWebSockets(maxFrameSize: Long) {
    install(WebSockets) {
        // Per frame; Parley enforces the same limit on whole messages.
        this.maxFrameSize = maxFrameSize
        channels {
            // Bounded, so a slow handler pushes back on the socket instead of buffering without limit.
            incoming = bounded(CHANNEL_CAPACITY)
            outgoing = bounded(CHANNEL_CAPACITY)
        }
    }
}

/** Runs the delayed releases of closed sessions; independent of any client so that stopping one cannot skip them. */
private val lingering = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-linger"))

private const val MAX_CONNECTIONS = 1_000_000

/**
 * Frames Ktor may buffer each way per connection. 64 made the reader and writer suspend and wake on every few frames
 * under a pipelined load (64 B echo with 512 in flight: 0.34× raw Ktor at 64, 0.45× at 512, same run); Kotlin
 * channels allocate their buffer in small segments as it fills, so an idle connection pays nothing for the size.
 */
private const val CHANNEL_CAPACITY = 512
