package dev.parley.internal.transport

import dev.parley.ParleyOptions
import dev.parley.transport.OpenRequest
import dev.parley.transport.Transport
import dev.parley.transport.TransportSession
import dev.parley.transport.WireFrame
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.selects.onTimeout
import kotlinx.coroutines.selects.select
import kotlinx.coroutines.withTimeoutOrNull
import java.net.ConnectException
import java.net.Inet6Address
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.UnknownHostException
import java.nio.ByteBuffer
import java.security.SecureRandom
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds

/*
 * Why Parley frames the socket itself: going through Ktor's HTTP client and its WebSocket session puts two frame
 * channels and two more coroutines between the socket and Parley, a flush that waits for the session's writer, and
 * the client's request pipeline on every connect; Ktor's socket layer alone still adds a coroutine per direction
 * between the NIO channel and its byte channels. So the default transport owns the whole path: a non-blocking
 * SocketChannel with Parley's own selector (Poller.kt), the platform's TLS (TlsLink.kt), proxies (ProxyTunnel.kt),
 * its own bounded reader for the upgrade response (UpgradeResponse.kt) and the RFC 6455 codecs (FrameCodec.kt),
 * run by the session's reader and writer coroutines themselves.
 * KtorTransport remains for callers who hand Parley their own HttpClient.
 */

/** Opens WebSocket connections on non-blocking sockets, doing TLS, the HTTP upgrade and the framing itself. */
internal class SocketTransport(
    private val options: ParleyOptions,
    /**
     * Looks a host name up, every address in the resolver's order. The JDK's resolver by default; a seam for tests,
     * which cannot run a DNS server here. It may block: [resolve] runs it apart from the attempt.
     */
    private val lookup: (String) -> List<InetAddress> = { InetAddress.getAllByName(it).toList() },
) : Transport {
    private val tls = TlsConfig(options.tls)

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
        val target = TunnelTarget(host, port, secure)
        val raw =
            when (val route = options.proxy.routeFor(target)) {
                ProxyRoute.Direct -> connectToAny(resolve(host), port)

                // The tunnel hands back the last link it opened through `connect` (it may retry after a 407).
                is ProxyRoute.Proxied ->
                    openTunnel(route, target) { proxy ->
                        connectToAny(resolve(proxy.hostString), proxy.port)
                    } as NioLink
            }
        try {
            val link: ByteLink =
                if (secure) {
                    TlsLink(raw, tls.engine(host, port)).also { it.handshake() }
                } else {
                    raw
                }
            val key = Handshake.newKey()
            link.write(ByteBuffer.wrap(Handshake.requestBytes(request, key)))
            val input = LinkInput(link)
            val response = UpgradeResponseReader.read(input)
            Handshake.checkResponse(response.status, response.reasonPhrase, response.headers, request, key)
            return SocketSession(raw, link, input, response.headers, request.maxFrameSize, seeds.nextLong())
        } catch (e: Throwable) {
            raw.close()
            throw e
        }
    }

    override fun close() = Unit

    /**
     * The addresses of [host]; a literal address needs no lookup. The JDK's resolver blocks and cannot be interrupted,
     * so the lookup runs in its own coroutine and the attempt only awaits it: cancelling the attempt (the connect
     * timeout, stop()) ends the wait at once, and an abandoned lookup finishes on its own in the background.
     */
    private suspend fun resolve(host: String): List<InetAddress> {
        if (isIpLiteral(host)) return listOf(InetAddress.getByName(host))
        val found = lookups.async { lookup(host) }.await()
        if (found.isEmpty()) throw UnknownHostException("$host has no address")
        return found
    }

    /**
     * Connects to one of [addresses] within the attempt's connect timeout, in the spirit of RFC 8305 ("Happy
     * Eyeballs"): IPv6 and IPv4 addresses take turns, each attempt gets [HEAD_START] before the next one starts
     * beside it, a failure starts the next at once, and the first to connect wins (the others are closed). With one
     * address its failure is thrown as it is; with several, a ConnectException that names each address and why it
     * failed (a message, because coroutines may copy an exception on its way up and drop what is suppressed in it).
     */
    @OptIn(ExperimentalCoroutinesApi::class) // select's onTimeout
    private suspend fun connectToAny(addresses: List<InetAddress>, port: Int): NioLink {
        if (addresses.size == 1) return NioLink.connect(InetSocketAddress(addresses[0], port), options.writeTimeout)
        val order = interleaveFamilies(addresses)
        val failures = ConcurrentLinkedQueue<Pair<InetAddress, Throwable>>()
        return coroutineScope {
            // A null is a failed attempt. Closed once there is a winner, so a late success closes its own link.
            val outcomes = Channel<NioLink?>(Channel.UNLIMITED)
            val attempts = ArrayList<Job>(order.size)
            var started = 0
            var failed = 0

            fun startNext() {
                val address = order[started++]
                attempts +=
                    launch {
                        val link =
                            try {
                                NioLink.connect(InetSocketAddress(address, port), options.writeTimeout)
                            } catch (e: CancellationException) {
                                throw e
                            } catch (e: Throwable) {
                                failures += address to e
                                null
                            }
                        if (outcomes.trySend(link).isFailure) link?.close()
                    }
            }
            startNext()
            while (true) {
                val outcome =
                    if (started < order.size) {
                        select<Any?> {
                            outcomes.onReceive { it }
                            onTimeout(HEAD_START) { HeadStartOver }
                        }
                    } else {
                        outcomes.receive()
                    }
                when (outcome) {
                    HeadStartOver -> startNext()

                    is NioLink -> {
                        outcomes.close()
                        attempts.forEach { it.cancel() }
                        while (true) (outcomes.tryReceive().getOrNull() ?: break).close()
                        return@coroutineScope outcome
                    }

                    else -> {
                        if (++failed == order.size) throw allFailed(order, failures, port)
                        if (started < order.size) startNext()
                    }
                }
            }
            @Suppress("UNREACHABLE_CODE")
            error("the loop above returns or throws")
        }
    }

    private fun allFailed(
        order: List<InetAddress>,
        failures: Collection<Pair<InetAddress, Throwable>>,
        port: Int,
    ): Throwable {
        val byAddress = failures.associate { it }
        val tried =
            order.joinToString("; ") { address ->
                val failure = byAddress[address]
                "${address.hostAddress}: ${failure?.message ?: failure?.let { it::class.simpleName }}"
            }
        return ConnectException("no address of the host accepted port $port ($tried)").apply {
            initCause(byAddress[order.first()])
        }
    }

    private class SocketSession(
        private val raw: NioLink,
        private val link: ByteLink,
        private val input: LinkInput,
        override val responseHeaders: Map<String, List<String>>,
        maxFrameSize: Long,
        maskSeed: Long,
    ) : TransportSession,
        NonBlockingSession {
        override val subprotocol: String? = responseHeaders["sec-websocket-protocol"]?.singleOrNull()
        private val decoder = FrameDecoder(input, maxFrameSize)
        private val encoder = FrameEncoder(link, maskSeed)

        override suspend fun receive(): WireFrame? = decoder.read()

        override suspend fun write(frame: WireFrame) = encoder.write(frame)

        override suspend fun flush() = encoder.flush()

        override fun abort() {
            raw.close()
        }

        override fun release(linger: Duration) {
            // Our close frame is on the wire: half-close, so a FIN follows it, and read what the peer still sends
            // until it closes too, at most [linger]. Closing at once could reset the connection (data unread on our
            // side makes the kernel send RST), and the server, which RFC 6455 §7.1.1 asks to close the TCP
            // connection first, could lose our close frame. The peer's FIN ends the wait, so its descriptor goes at
            // once in the usual case.
            lingering.launch {
                try {
                    if (link is TlsLink) link.shutdownOutput() else raw.shutdownOutput()
                    withTimeoutOrNull(linger) {
                        val sink = ByteBuffer.allocate(DRAIN_BUFFER)
                        while (true) {
                            sink.clearForWriting()
                            if (link.read(sink) < 0) break
                        }
                    }
                } catch (e: Throwable) {
                    // The socket failed while lingering: nothing is left to save.
                } finally {
                    abort()
                }
            }
        }
    }

    /** Marks the end of an attempt's head start. */
    private object HeadStartOver

    private companion object {
        /** RFC 8305 §5 recommends 250 ms before starting the next address's attempt beside a slow one. */
        val HEAD_START = 250.milliseconds

        const val DRAIN_BUFFER = 4096

        val seeds = SecureRandom()

        /** IPv6 and IPv4 in turns, each family in the resolver's order, starting with the resolver's first choice. */
        fun interleaveFamilies(addresses: List<InetAddress>): List<InetAddress> {
            val (first, second) = addresses.partition { (it is Inet6Address) == (addresses[0] is Inet6Address) }
            return buildList(addresses.size) {
                for (i in 0 until maxOf(first.size, second.size)) {
                    first.getOrNull(i)?.let(::add)
                    second.getOrNull(i)?.let(::add)
                }
            }
        }
    }
}

/**
 * A session whose reads and writes never block a thread: they return at once or suspend until the selector reports
 * readiness. LiveSession runs such a session's reader unconfined.
 */
internal interface NonBlockingSession

/** Runs host name lookups, which block; independent of any client, so that an abandoned lookup can finish. */
private val lookups = CoroutineScope(SupervisorJob() + Dispatchers.IO + CoroutineName("parley-dns"))

/** Runs the delayed releases of closed sessions; independent of any client so that stopping one cannot skip them. */
internal val lingering = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-linger"))
