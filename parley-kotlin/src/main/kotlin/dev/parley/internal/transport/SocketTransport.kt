package dev.parley.internal.transport

import dev.parley.ParleyOptions
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import dev.parley.transport.unlessOurCancellation
import io.ktor.network.selector.SelectorManager
import io.ktor.network.sockets.InetSocketAddress
import io.ktor.network.sockets.Socket
import io.ktor.network.sockets.aSocket
import io.ktor.network.sockets.openReadChannel
import io.ktor.network.sockets.openWriteChannel
import io.ktor.network.tls.tls
import io.ktor.utils.io.ByteReadChannel
import io.ktor.utils.io.ByteWriteChannel
import io.ktor.utils.io.writeFully
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeoutOrNull
import java.net.InetAddress
import java.security.SecureRandom
import kotlin.time.Duration

/*
 * Why Parley frames the socket itself: going through Ktor's HTTP client and its WebSocket session puts two frame
 * channels and two more coroutines between the socket and Parley (the session's reader and writer), a flush that
 * waits for the session's writer, and the client's request pipeline on every connect. Measured against raw Ktor with
 * the same engine, those hand-offs cost Parley more than half its small-message throughput. So the default transport
 * uses Ktor's socket layer (ktor-network: the same selector, socket coroutines and TLS that the CIO engine uses) and
 * its own bounded reader for the upgrade response (UpgradeResponse.kt), and reads and writes frames on the socket's
 * byte channels directly.
 * KtorTransport remains for callers who hand Parley their own HttpClient.
 */

/** Opens WebSocket connections on Ktor's sockets, doing the HTTP upgrade and the framing itself. */
internal class SocketTransport(
    private val options: ParleyOptions,
) : Transport {
    override suspend fun open(request: OpenRequest): TransportSession {
        val uri = request.uri
        val secure = uri.scheme.equals("wss", ignoreCase = true)
        val host = uri.host.removePrefix("[").removeSuffix("]")
        val port =
            when {
                uri.port != -1 -> uri.port
                secure -> 443
                else -> 80
            }
        val address = InetSocketAddress(resolve(host), port)
        val tcp = aSocket(selector).tcp().connect(address) { noDelay = true }
        val job = SupervisorJob()
        var socket: Socket = tcp
        try {
            if (secure) {
                socket =
                    tcp.tls(Dispatchers.IO + job + CoroutineName("parley-tls")) {
                        options.tls.trustManager?.let { trustManager = it }
                        serverName = options.tls.serverName ?: host
                    }
            }
            val input = socket.openReadChannel()
            val output = socket.openWriteChannel(autoFlush = false)
            val key = Handshake.newKey()
            output.writeFully(Handshake.requestBytes(request, key))
            output.flush()
            val response = UpgradeResponseReader.read(input)
            Handshake.checkResponse(response.status, response.reasonPhrase, response.headers, request, key)
            return SocketSession(socket, job, input, output, response.headers, request.maxFrameSize, seeds.nextLong())
        } catch (e: Throwable) {
            socket.close()
            tcp.close()
            job.cancel()
            throw e
        }
    }

    override fun close() = Unit

    /** Host names are looked up off the caller's thread: the JDK's resolver blocks. Literal addresses need no lookup. */
    private suspend fun resolve(host: String): String {
        val literal = ':' in host || (host.first().isDigit() && host.all { it.isDigit() || it == '.' })
        if (literal) return host
        return withContext(Dispatchers.IO) { InetAddress.getByName(host).hostAddress }
    }

    private class SocketSession(
        private val socket: Socket,
        private val job: Job,
        private val input: ByteReadChannel,
        private val output: ByteWriteChannel,
        override val responseHeaders: Map<String, List<String>>,
        maxFrameSize: Long,
        maskSeed: Long,
    ) : TransportSession {
        override val subprotocol: String? = responseHeaders["sec-websocket-protocol"]?.singleOrNull()
        private val decoder = FrameDecoder(input, maxFrameSize)
        private val encoder = FrameEncoder(output, maskSeed)

        override suspend fun receive(): WireFrame? = io { decoder.read() }

        override suspend fun write(frame: WireFrame) = io { encoder.write(frame) }

        override suspend fun flush() = io { encoder.flush() }

        override fun abort() {
            socket.close()
            job.cancel()
        }

        override fun release(linger: Duration) {
            // Our close frame is flushed into the socket's channel, not yet onto the wire: half-close, so it leaves
            // followed by a FIN, and keep the socket [linger] longer. Closing at once could reset the connection (data
            // unread on our side makes the kernel send RST), and the server, which RFC 6455 §7.1.1 asks to close the
            // TCP connection first, could lose our close frame.
            lingering.launch {
                try {
                    withTimeoutOrNull(linger) {
                        output.flushAndClose()
                        awaitCancellation()
                    }
                } catch (e: Throwable) {
                    // The socket failed while lingering: nothing is left to save.
                } finally {
                    abort()
                }
            }
        }

        /** Runs a read or write, turning the byte channels' cancellation-wrapped failures into an IOException. */
        private suspend inline fun <T> io(block: () -> T): T = try {
            block()
        } catch (e: CancellationException) {
            throw e.unlessOurCancellation()
        }
    }

    private companion object {
        /** One selector thread serves every Parley connection in the process, as one CIO engine would. */
        val selector: SelectorManager by lazy { SelectorManager(Dispatchers.IO) }

        val seeds = SecureRandom()
    }
}

/** Runs the delayed releases of closed sessions; independent of any client so that stopping one cannot skip them. */
internal val lingering = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-linger"))
