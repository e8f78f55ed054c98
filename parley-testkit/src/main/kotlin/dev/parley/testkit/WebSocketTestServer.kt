package dev.parley.testkit

import dev.parley.testkit.internal.ProtocolFault
import dev.parley.testkit.internal.ReplyRule
import dev.parley.testkit.internal.Settings
import dev.parley.testkit.internal.Wire
import java.io.BufferedInputStream
import java.io.IOException
import java.io.InputStream
import java.net.InetAddress
import java.net.InetSocketAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.time.Duration
import java.util.Collections
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.function.BiConsumer
import java.util.function.Consumer
import java.util.function.Function
import java.util.function.Predicate
import java.util.regex.Pattern

/**
 * A WebSocket server on the loopback interface for tests: it answers upgrades the way a test asks (at once, late,
 * never, or with an error status), hands each connection to the test as a [TestConnection] to push messages, close,
 * drop, and check what the client sent, and can answer messages from a script ([Builder.echo], [Builder.onText]).
 *
 * ```java
 * try (WebSocketTestServer server = WebSocketTestServer.builder().echo().start()) {
 *     connectYourClientTo(server.uri());
 *     TestConnection connection = server.awaitConnection();
 *     connection.expectText("hello");
 * }
 * ```
 *
 * It is a plain RFC 6455 server written for tests, on blocking sockets with a thread per connection (daemon threads):
 * no TLS, no extensions (permessage-deflate is never negotiated), any request path is accepted. It does not depend on
 * any WebSocket client, Parley's included. [close] ends every connection and frees the port.
 */
public class WebSocketTestServer private constructor(private val settings: Settings) : AutoCloseable {
    private val lock = Any()
    private var serverSocket: ServerSocket? = null // guarded by lock
    private var closed = false // guarded by lock

    @Volatile private var defaultUpgrade: UpgradeBehavior = settings.upgrade
    private val upgradeQueue = ConcurrentLinkedQueue<UpgradeBehavior>()

    @Volatile private var releaseWaits = CountDownLatch(1)
    private val sockets: MutableSet<Socket> = ConcurrentHashMap.newKeySet()
    private val open: MutableSet<TestConnection> = ConcurrentHashMap.newKeySet()
    private val pending = LinkedBlockingQueue<TestConnection>()
    private val requests = LinkedBlockingQueue<UpgradeRequest>()
    private val all = CopyOnWriteArrayList<TestConnection>()
    private val upgradeRequests = AtomicInteger()
    private val upgrades = AtomicInteger()

    /**
     * Binds the port (an ephemeral one unless [Builder.port] chose one) and starts accepting. Returns this server.
     * Throws [IllegalStateException] when started twice or after [close], [java.io.UncheckedIOException] when the
     * port cannot be bound.
     */
    public fun start(): WebSocketTestServer {
        synchronized(lock) {
            check(!closed) { "the server is closed" }
            check(serverSocket == null) { "the server is already started" }
            val socket = ServerSocket()
            try {
                socket.reuseAddress = true
                if (settings.receiveBufferSize > 0) socket.receiveBufferSize = settings.receiveBufferSize
                socket.bind(InetSocketAddress(InetAddress.getByName(settings.host), settings.port))
            } catch (e: IOException) {
                runCatching { socket.close() }
                throw java.io.UncheckedIOException("cannot bind ${settings.host}:${settings.port}", e)
            }
            serverSocket = socket
            daemon("parley-testkit-accept-${socket.localPort}") { acceptLoop(socket) }
        }
        return this
    }

    /** The bound port. Throws [IllegalStateException] before [start]. */
    public fun port(): Int = bound().localPort

    /** The loopback host the server listens on, as configured: `127.0.0.1` unless [Builder.host] said `::1`. */
    public fun host(): String = settings.host

    /** `ws://127.0.0.1:<port><path>` with the configured path (`/` unless [Builder.path] said otherwise). */
    public fun uri(): URI = uri(settings.path)

    /** `ws://127.0.0.1:<port><path>` with [path] (which may carry a query); the server accepts any path. */
    public fun uri(path: String): URI = URI.create(url(path))

    /** [uri] as a string. */
    public fun url(): String = url(settings.path)

    /** [uri] with [path], as a string. */
    public fun url(path: String): String {
        require(path.startsWith("/")) { "path must start with '/': $path" }
        val host = if (':' in settings.host) "[${settings.host}]" else settings.host
        return "ws://$host:${port()}$path"
    }

    /** The next upgraded connection in accept order, waiting up to the default timeout. */
    public fun awaitConnection(): TestConnection = awaitConnection(settings.defaultTimeout)

    /**
     * The next upgraded connection (one answered with 101) in accept order, waiting up to [timeout]. Each connection
     * is handed out once. Throws [AssertionError] when none comes.
     */
    public fun awaitConnection(timeout: Duration): TestConnection = poll(pending, timeout)
        ?: throw AssertionError(
            "no WebSocket connection to $this within $timeout (upgrade requests so far: ${upgradeRequests.get()}, " +
                "answered with 101: ${upgrades.get()})",
        )

    /** The next upgrade request in arrival order (answered or not), waiting up to the default timeout. */
    public fun awaitUpgradeRequest(): UpgradeRequest = awaitUpgradeRequest(settings.defaultTimeout)

    /**
     * The next upgrade request in arrival order, whatever the server answers (101, a rejection, or nothing yet),
     * waiting up to [timeout]. Each request is handed out once. Throws [AssertionError] when none comes.
     */
    public fun awaitUpgradeRequest(timeout: Duration): UpgradeRequest = poll(requests, timeout)
        ?: throw AssertionError("no upgrade request to $this within $timeout")

    /** How many upgrade requests the server has read (counted before it answers). */
    public fun upgradeRequestCount(): Int = upgradeRequests.get()

    /** How many upgrades the server has answered with 101 (counted before the 101 is written). */
    public fun connectionCount(): Int = upgrades.get()

    /** Every upgraded connection so far, in accept order, whether handed out by [awaitConnection] or not. */
    public fun connections(): List<TestConnection> = Collections.unmodifiableList(all.toList())

    /** How the server answers upgrade requests from now on, when nothing is queued with [enqueueUpgrade]. */
    public fun setUpgrade(behavior: UpgradeBehavior) {
        defaultUpgrade = behavior
    }

    /**
     * Answers the next upgrade request with [behavior], once; calls queue up in order. Later requests get the
     * default again ([setUpgrade]). E.g. accept, then reject the first reconnection with 503.
     */
    public fun enqueueUpgrade(behavior: UpgradeBehavior) {
        upgradeQueue += behavior
    }

    /**
     * Back to a freshly started state on the same port: ends every connection (TCP close) and every stalled or
     * delayed upgrade, forgets connections and requests not handed out yet, empties the [enqueueUpgrade] queue, restores
     * the configured upgrade behaviour and zeroes the counts.
     */
    public fun reset() {
        val release = releaseWaits
        releaseWaits = CountDownLatch(1)
        release.countDown()
        upgradeQueue.clear()
        defaultUpgrade = settings.upgrade
        snapshot(open).forEach { it.endByServer() }
        snapshot(sockets).forEach { runCatching { it.close() } }
        pending.clear()
        requests.clear()
        all.clear()
        upgradeRequests.set(0)
        upgrades.set(0)
    }

    /** Stops accepting, ends every connection (TCP close, no close frame) and frees the port. Idempotent. */
    override fun close() {
        val socket = synchronized(lock) {
            closed = true
            serverSocket
        }
        runCatching { socket?.close() }
        releaseWaits.countDown()
        snapshot(open).forEach { it.endByServer() }
        snapshot(sockets).forEach { runCatching { it.close() } }
    }

    /** `WebSocketTestServer(ws://127.0.0.1:port/)`, or `(not started)`. */
    override fun toString(): String {
        val socket = synchronized(lock) { serverSocket }
        return "WebSocketTestServer(${if (socket == null) "not started" else url()})"
    }

    // ----------------------------------------------------------------------------------------------------------------

    private fun bound(): ServerSocket = synchronized(lock) { serverSocket } ?: error("the server is not started")

    private fun <T> poll(queue: LinkedBlockingQueue<T>, timeout: Duration): T? {
        require(!timeout.isNegative) { "negative timeout: $timeout" }
        return try {
            queue.poll(timeout.toMillis(), TimeUnit.MILLISECONDS)
        } catch (_: InterruptedException) {
            Thread.currentThread().interrupt()
            null
        }
    }

    private fun acceptLoop(server: ServerSocket) {
        val count = AtomicInteger()
        while (!server.isClosed) {
            val socket = try {
                server.accept()
            } catch (_: IOException) {
                break
            }
            sockets += socket
            if (server.isClosed) {
                runCatching { socket.close() }
                break
            }
            daemon("parley-testkit-conn-${server.localPort}-${count.incrementAndGet()}") { serve(socket) }
        }
    }

    private fun serve(socket: Socket) {
        try {
            socket.soTimeout = HANDSHAKE_READ_TIMEOUT_MILLIS
            socket.tcpNoDelay = true
            val input = BufferedInputStream(socket.getInputStream())
            val head = try {
                Wire.readHead(input)
            } catch (f: ProtocolFault) {
                respond(socket, f.code, f.message.orEmpty(), emptyList())
                return
            } ?: return
            val request = UpgradeRequest(head.requestLine, head.headers)
            // Chosen before the request is handed out: a test that saw the request and then changes or resets the
            // server's behaviour affects later requests, never this one.
            val behavior = upgradeQueue.poll() ?: defaultUpgrade
            val release = releaseWaits
            upgradeRequests.incrementAndGet()
            requests += request
            when (behavior.mode()) {
                UpgradeBehavior.Mode.STALL -> {
                    release.await()
                    return
                }

                UpgradeBehavior.Mode.REJECT -> {
                    respond(socket, behavior.status(), behavior.body(), behavior.headers())
                    return
                }

                UpgradeBehavior.Mode.ACCEPT -> if (!behavior.delay().isZero) {
                    if (release.await(behavior.delay().toMillis(), TimeUnit.MILLISECONDS)) return
                }
            }
            upgrade(socket, input, request, behavior)
        } catch (_: IOException) {
            // The client went away, or the server was closed under us: nothing for the test to see.
        } catch (_: InterruptedException) {
            Thread.currentThread().interrupt()
        } finally {
            // An upgraded connection's reader has ended by now (upgrade returns when it does).
            sockets -= socket
            runCatching { socket.close() }
        }
    }

    private fun upgrade(socket: Socket, input: InputStream, request: UpgradeRequest, behavior: UpgradeBehavior) {
        val key = request.header("sec-websocket-key")
        if (key == null || !request.method().equals("GET", ignoreCase = true) ||
            request.headerValues("upgrade").none { it.equals("websocket", ignoreCase = true) }
        ) {
            respond(socket, 400, "not a WebSocket upgrade request", behavior.headers())
            return
        }
        if (request.header("sec-websocket-version") != "13") {
            respond(
                socket,
                426,
                "only WebSocket version 13",
                listOf("Sec-WebSocket-Version" to "13") + behavior.headers(),
            )
            return
        }
        val offered = request.offeredSubprotocols()
        val selected = offered.firstOrNull { it in settings.subprotocols }
        val lines = mutableListOf(
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Accept: ${behavior.acceptKey() ?: Wire.acceptKey(key)}",
        )
        if (selected != null) lines += "Sec-WebSocket-Protocol: $selected"
        behavior.headers().forEach { (name, value) -> lines += "$name: $value" }
        val index = upgrades.incrementAndGet()
        val connection = TestConnection(socket, input, request, selected, index, settings) { ended ->
            open -= ended
            sockets -= socket
        }
        open += connection
        all += connection
        socket.getOutputStream().apply {
            write((lines.joinToString("\r\n") + "\r\n\r\n").toByteArray(Charsets.ISO_8859_1))
            flush()
        }
        socket.soTimeout = 0
        pending += connection
        connection.run()
    }

    /** Writes a complete non-101 response, then ends the connection without resetting it. */
    private fun respond(socket: Socket, status: Int, body: String, headers: List<Pair<String, String>>) {
        val bytes = body.toByteArray(Charsets.UTF_8)
        val lines = mutableListOf("HTTP/1.1 $status ${Wire.reasonPhrase(status)}")
        if (bytes.isNotEmpty()) lines += "Content-Type: text/plain; charset=utf-8"
        lines += "Content-Length: ${bytes.size}"
        lines += "Connection: close"
        headers.forEach { (name, value) -> lines += "$name: $value" }
        val out = socket.getOutputStream()
        out.write((lines.joinToString("\r\n") + "\r\n\r\n").toByteArray(Charsets.ISO_8859_1) + bytes)
        out.flush()
        // Half-close, then let the client close: closing with unread input would reset the response away.
        runCatching {
            socket.shutdownOutput()
            socket.soTimeout = DRAIN_TIMEOUT_MILLIS
            val sink = ByteArray(DRAIN_BUFFER)
            var drained = 0
            while (drained < MAX_DRAIN_BYTES) {
                val n = socket.getInputStream().read(sink)
                if (n < 0) break
                drained += n
            }
        }
    }

    private fun daemon(name: String, body: () -> Unit) {
        val thread = Thread(body, name)
        thread.isDaemon = true
        thread.start()
    }

    /**
     * Configures a [WebSocketTestServer]; [build] or [start] it. A builder can build any number of servers; each
     * gets a snapshot of the configuration at the time.
     */
    public class Builder internal constructor() {
        private var host = "127.0.0.1"
        private var port = 0
        private var path = "/"
        private val subprotocols = ArrayList<String>()
        private var upgrade = UpgradeBehavior.accept()
        private var receiveBufferSize = 0
        private var maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE
        private var defaultTimeout = DEFAULT_TIMEOUT
        private var quietWindow = DEFAULT_QUIET_WINDOW
        private var echo = false
        private val rules = ArrayList<ReplyRule>()
        private val onMessage = ArrayList<(TestConnection, TestMessage) -> Unit>()
        private val onConnection = ArrayList<(TestConnection) -> Unit>()

        /** The loopback address to listen on: `127.0.0.1` (the default) or `::1`. Anything else is refused. */
        public fun host(host: String): Builder = apply {
            require(InetAddress.getByName(host).isLoopbackAddress) { "not a loopback address: $host" }
            this.host = host
        }

        /** The port to listen on; 0 (the default) picks a free ephemeral port. */
        public fun port(port: Int): Builder = apply {
            require(port in 0..MAX_PORT) { "bad port: $port" }
            this.port = port
        }

        /** The path [uri] and [url] put in the address (default `/`). The server accepts any path regardless. */
        public fun path(path: String): Builder = apply {
            require(path.startsWith("/")) { "path must start with '/': $path" }
            this.path = path
        }

        /**
         * Subprotocols the server supports: of those the client offers, the first (in the client's order) that is
         * listed here is selected in the 101. By default none is.
         */
        public fun subprotocols(vararg names: String): Builder = apply { subprotocols += names }

        /** How upgrade requests are answered by default ([UpgradeBehavior.accept] unless set). */
        public fun upgrade(behavior: UpgradeBehavior): Builder = apply { upgrade = behavior }

        /**
         * SO_RCVBUF for accepted connections, in bytes (set on the listening socket so it applies from the SYN); 0 for
         * the system default. Small values with [TestConnection.pauseReading] make a peer whose buffers fill fast.
         */
        public fun receiveBufferSize(bytes: Int): Builder = apply {
            require(bytes >= 0) { "negative buffer size: $bytes" }
            receiveBufferSize = bytes
        }

        /**
         * The largest message (and frame) the server accepts from a client, in bytes (default 16 MiB). A bigger one is
         * recorded as a fault and answered with close 1009.
         */
        public fun maxMessageSize(bytes: Int): Builder = apply {
            require(bytes >= 0) { "negative size: $bytes" }
            maxMessageSize = bytes
        }

        /** The timeout of every `await…` and `expect…` call that takes none (default 5 seconds). */
        public fun defaultTimeout(timeout: Duration): Builder = apply {
            require(!timeout.isNegative && !timeout.isZero) { "timeout must be positive: $timeout" }
            defaultTimeout = timeout
        }

        /** The window of [TestConnection.expectNothingMore] when called without one (default 500 ms). */
        public fun quietWindow(window: Duration): Builder = apply {
            require(!window.isNegative) { "negative window: $window" }
            quietWindow = window
        }

        /** Echoes every text and binary message back to its sender. */
        public fun echo(): Builder = echo(true)

        /** Whether to echo every text and binary message back to its sender (default false). */
        public fun echo(echo: Boolean): Builder = apply { this.echo = echo }

        /** Answers a text message equal to [text] with the text [reply]. */
        public fun onText(text: String, reply: String): Builder = apply {
            rules += ReplyRule({ it.isText() && it.text() == text }) { c, _ -> c.sendText(reply) }
        }

        /** Answers a text message in which [pattern] finds a match (`Matcher.find`) with the text [reply]. */
        public fun onText(pattern: Pattern, reply: String): Builder = apply {
            rules += ReplyRule({ it.isText() && pattern.matcher(it.text()).find() }) { c, _ -> c.sendText(reply) }
        }

        /**
         * Answers a text message that satisfies [match] with the text [reply] computes from it; a `null` reply sends
         * nothing. Rules are tried in the order added; only the first that matches a message answers it.
         */
        public fun onText(match: Predicate<String>, reply: Function<String, String?>): Builder = apply {
            rules +=
                ReplyRule({ it.isText() && match.test(it.text()) }) { c, m -> reply.apply(m.text())?.let(c::sendText) }
        }

        /**
         * Calls [handler] with the connection and each text or binary message it receives, on the connection's
         * reader thread (after the message is recorded, after [echo] and [onText]): for any scripted behaviour, e.g.
         * closing when a message comes. A handler that throws is recorded in [TestConnection.faults].
         */
        public fun onMessage(handler: BiConsumer<TestConnection, TestMessage>): Builder = apply {
            onMessage += { c, m -> handler.accept(c, m) }
        }

        /**
         * Calls [hook] with each new connection right after its 101 is written and before any frame is read, on the
         * connection's reader thread: e.g. [TestConnection.pauseReading], [TestConnection.closeTcp] or a greeting.
         */
        public fun onConnection(hook: Consumer<TestConnection>): Builder = apply {
            onConnection += { c -> hook.accept(c) }
        }

        /** A new server with this configuration, not started. */
        public fun build(): WebSocketTestServer = WebSocketTestServer(
            Settings(
                host = host,
                port = port,
                path = path,
                subprotocols = subprotocols.toList(),
                upgrade = upgrade,
                receiveBufferSize = receiveBufferSize,
                maxMessageSize = maxMessageSize,
                defaultTimeout = defaultTimeout,
                quietWindow = quietWindow,
                echo = echo,
                rules = rules.toList(),
                onMessage = onMessage.toList(),
                onConnection = onConnection.toList(),
            ),
        )

        /** A new server with this configuration, started: `build().start()`. */
        public fun start(): WebSocketTestServer = build().start()
    }

    /** Factories and defaults. */
    public companion object {
        /** The default of [Builder.defaultTimeout]: 5 seconds. */
        @JvmField
        public val DEFAULT_TIMEOUT: Duration = Duration.ofSeconds(5)

        /** The default of [Builder.quietWindow]: 500 milliseconds. */
        @JvmField
        public val DEFAULT_QUIET_WINDOW: Duration = Duration.ofMillis(500)

        /** The default of [Builder.maxMessageSize]: 16 MiB. */
        public const val DEFAULT_MAX_MESSAGE_SIZE: Int = 16 * 1024 * 1024

        private const val MAX_PORT = 65535
        private const val HANDSHAKE_READ_TIMEOUT_MILLIS = 10_000
        private const val DRAIN_TIMEOUT_MILLIS = 2_000
        private const val DRAIN_BUFFER = 4096
        private const val MAX_DRAIN_BYTES = 1024 * 1024

        /** A builder with the defaults: 127.0.0.1, an ephemeral port, path `/`, accept every upgrade, no script. */
        @JvmStatic
        public fun builder(): Builder = Builder()
    }
}

/*
 * A copy of a set other threads change. Not toList(): for a collection of one it reads size() and then iterator().next()
 * separately, and a connection ending in between makes that throw NoSuchElementException. toArray() copies in one pass.
 */
private fun <T> snapshot(set: Set<T>): List<T> = ArrayList(set)
