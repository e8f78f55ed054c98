package dev.parley.ktor.internal

import dev.parley.CloseCodes
import dev.parley.ParleyOptions
import dev.parley.transport.HandshakeRejectedException
import dev.parley.transport.Opcode
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportProtocolException
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import dev.parley.transport.expectedWebSocketAccept
import dev.parley.transport.unlessOurCancellation
import io.ktor.client.HttpClient
import io.ktor.client.call.body
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
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.select
import java.io.EOFException
import java.io.IOException
import kotlin.time.Duration

/*
 * Why a raw session: Ktor's DefaultClientWebSocketSession answers pings itself, hides pongs, decodes text leniently
 * and has no close timeout. Asking the WebSockets plugin for a plain ClientWebSocketSession gives the engine's raw
 * session instead (CIO: RawWebSocketJvm), which hands over every frame, control frames included, and leaves pongs,
 * close replies, reassembly and validation to Parley. This works through the plugin, not a CIO-only builder, so any
 * engine can be plugged in; engines whose sessions are not raw (e.g. OkHttp's) will answer pings themselves.
 */

/**
 * Opens WebSocket connections through a caller's Ktor [HttpClient] (see `httpClient` in dev.parley.ktor): their
 * engine, their plugins and proxies. Without one, Parley uses its own transport, which skips the HTTP client's
 * machinery.
 */
internal class KtorTransport(
    callersClient: HttpClient,
    options: ParleyOptions,
) : Transport {
    // Shares the caller's engine; closing this derived client leaves that engine alone.
    private val client: HttpClient = callersClient.config { installWebSockets(options.maxFrameSize) }

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

    /**
     * Checks the 101 response as RFC 6455 §4.1 asks, then takes the engine's raw session. Extensions are Parley's to
     * check (it offered them in the request's headers), not the engine's.
     */
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
        val expected = key?.let(::expectedWebSocketAccept)
        if (expected == null || accept != expected) {
            throw HandshakeRejectedException(101, headers, "expected Sec-WebSocket-Accept $expected but was $accept")
        }
        val selected = response.headers[HttpHeaders.SecWebSocketProtocol]
        if (selected != null && selected !in request.subprotocols) {
            throw HandshakeRejectedException(
                101,
                headers,
                "server selected subprotocol '$selected', which was not offered",
            )
        }
        return response.body()
    }

    override fun close() {
        client.close()
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
            // The reserved bits go through as given: Parley itself compresses (RSV1) when permessage-deflate was agreed.
            val ktorFrame =
                Frame.byType(
                    frame.fin,
                    type,
                    frame.payload,
                    frame.rsv and 4 != 0,
                    frame.rsv and 2 != 0,
                    frame.rsv and 1 != 0,
                )
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
    }

    private companion object {
        fun HttpResponse.lowerCaseHeaders(): Map<String, List<String>> =
            headers.entries().associate { (k, v) -> k.lowercase() to v }
    }
}

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

/**
 * Frames Ktor may buffer each way per connection. 64 made the reader and writer suspend and wake on every few frames
 * under a pipelined load (64 B echo with 512 in flight: 0.34× raw Ktor at 64, 0.45× at 512, same run); Kotlin
 * channels allocate their buffer in small segments as it fills, so an idle connection pays nothing for the size.
 */
private const val CHANNEL_CAPACITY = 512

/** Runs the delayed releases of closed sessions; independent of any client so that stopping one cannot skip them. */
private val lingering = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-ktor-linger"))
