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
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.net.ConnectException
import java.net.InetAddress
import java.net.UnknownHostException
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
    /**
     * Looks a host name up, every address in the resolver's order. The JDK's resolver by default; a seam for tests,
     * which cannot run a DNS server here. It may block: [resolve] runs it apart from the attempt.
     */
    private val lookup: (String) -> List<InetAddress> = { InetAddress.getAllByName(it).toList() },
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
        val tcp = connectToAny(resolve(host), port)
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

    /**
     * The addresses of [host]; a literal address needs no lookup. The JDK's resolver blocks and cannot be interrupted,
     * so the lookup runs in its own coroutine and the attempt only awaits it: cancelling the attempt (the connect
     * timeout, stop()) ends the wait at once, and an abandoned lookup finishes on its own in the background.
     */
    private suspend fun resolve(host: String): List<String> {
        val literal = ':' in host || (host.first().isDigit() && host.all { it.isDigit() || it == '.' })
        if (literal) return listOf(host)
        val found = lookups.async { lookup(host) }.await()
        if (found.isEmpty()) throw UnknownHostException("$host has no address")
        return found.map { it.hostAddress }
    }

    /**
     * Connects to the first of [addresses] that accepts, in order, all within the attempt's connect timeout. With one
     * address its failure is thrown as it is; with several, a ConnectException that names each address and why it
     * failed (a message, because coroutines may copy an exception on its way up and drop what is suppressed in it).
     */
    private suspend fun connectToAny(addresses: List<String>, port: Int): Socket {
        val failures = ArrayList<Pair<String, Throwable>>(addresses.size)
        for (address in addresses) {
            try {
                return aSocket(selector).tcp().connect(InetSocketAddress(address, port)) { noDelay = true }
            } catch (e: Throwable) {
                failures += address to e.unlessOurCancellation()
            }
        }
        failures.singleOrNull()?.let { throw it.second }
        val tried = failures.joinToString("; ") { (address, e) -> "$address: ${e.message ?: e::class.simpleName}" }
        throw ConnectException("no address of the host accepted port $port ($tried)").apply {
            initCause(failures.first().second)
        }
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

/** Runs host name lookups, which block; independent of any client, so that an abandoned lookup can finish. */
private val lookups = CoroutineScope(SupervisorJob() + Dispatchers.IO + CoroutineName("parley-dns"))

/** Runs the delayed releases of closed sessions; independent of any client so that stopping one cannot skip them. */
internal val lingering = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-linger"))
