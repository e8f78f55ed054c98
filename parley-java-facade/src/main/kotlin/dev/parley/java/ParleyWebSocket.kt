package dev.parley.java

import dev.parley.AppHeartbeat
import dev.parley.BearerToken
import dev.parley.ClientLayer
import dev.parley.ClientStoppedException
import dev.parley.CloseCodes
import dev.parley.Compression
import dev.parley.ConnectFailedException
import dev.parley.ConnectionInfo
import dev.parley.ConnectionInfoProvider
import dev.parley.ConnectionState
import dev.parley.DisconnectReason
import dev.parley.Frame
import dev.parley.FramePreparer
import dev.parley.HeartbeatPolicy
import dev.parley.LatencyStats
import dev.parley.NotConnectedException
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyEvent
import dev.parley.ParleyMetrics
import dev.parley.ParleyOptions
import dev.parley.PoolMember
import dev.parley.ProxySettings
import dev.parley.ReconnectPolicy
import dev.parley.Recovery
import dev.parley.RecoveryPolicy
import dev.parley.RequestCodec
import dev.parley.Requests
import dev.parley.RetriesExhaustedException
import dev.parley.SendGate
import dev.parley.SendOverflow
import dev.parley.StopReason
import dev.parley.TlsSettings
import dev.parley.WireTap
import dev.parley.java.internal.CallbackFuture
import dev.parley.java.internal.ListenerHandler
import dev.parley.java.internal.SendForwarder
import dev.parley.java.internal.SerialExecutor
import dev.parley.java.internal.copyRemaining
import dev.parley.java.internal.text
import dev.parley.parleyOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.asExecutor
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.emitAll
import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.transformWhile
import kotlinx.coroutines.future.asCompletableFuture
import kotlinx.coroutines.future.await
import kotlinx.coroutines.launch
import java.net.URI
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionStage
import java.util.concurrent.Executor
import java.util.function.Function
import java.util.function.Predicate
import javax.net.ssl.SSLContext
import javax.net.ssl.X509KeyManager
import javax.net.ssl.X509TrustManager
import kotlin.time.toJavaDuration
import kotlin.time.toKotlinDuration

/**
 * Parley for Java: a WebSocket client that keeps one connection alive, with `CompletableFuture` methods and a
 * [ParleyListener]. Build one with [builder]; it connects on the first [connect].
 *
 * ```java
 * try (ParleyWebSocket ws = ParleyWebSocket.builder(URI.create("wss://example.com/feed"))
 *         .reconnect(Duration.ofSeconds(1), Duration.ofSeconds(30), -1)
 *         .listener(new ParleyListener() {
 *             @Override public void onText(Reply reply, String text) { System.out.println(text); }
 *         })
 *         .build()) {
 *     ws.connect().join();
 *     ws.sendText("hello").join();
 * }
 * ```
 *
 * Every method may be called from any thread, including from inside listener callbacks. A future's dependents
 * (`thenRun`, `whenComplete`, …) run apart from the listener's callbacks, never on the client's own thread, so a slow
 * one cannot stall the connection. Futures complete exceptionally
 * with the Kotlin API's typed exceptions (all `java.io.IOException`s): `NotConnectedException`,
 * `SendQueueFullException`, `ConnectionClosedException`, `ClientStoppedException`, `ConnectFailedException`. Sends
 * from one thread are written in the order they were made. Cancelling a send's future does not withdraw the frame.
 *
 * Inside a callback, waiting for one of this client's futures (`join()`, `get()`) fails at once with
 * IllegalStateException: it could complete only after the callback returns. [close] knows this and does not wait
 * there.
 */
public class ParleyWebSocket private constructor(
    private val options: ParleyOptions,
    /** Matches replies to [request]s, when the builder was given a codec. */
    private val requests: Requests<*>?,
    private val listener: ParleyListener,
    private val eventListener: ParleyEventListener?,
    /** Runs listener callbacks one at a time; with the default executor, the core client's loop runs here too. */
    private val callbacks: SerialExecutor,
    /** Whether the client's loop runs on [callbacks], so that listener callbacks are called in place. */
    private val loopOnCallbacks: Boolean,
    completionExecutor: Executor,
) : AutoCloseable {
    /** Runs the coroutines behind futures and listeners; each ends on its own (nothing here is ever cancelled). */
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** Runs the dependents of user futures in order, apart from the listener's callbacks. */
    private val completions = SerialExecutor(completionExecutor)

    /** Set once, by the first [connect]; a StateFlow so that [coreEvents] can wait for it. */
    private val startedFlow = MutableStateFlow<Started?>(null)

    private var started: Started?
        get() = startedFlow.value
        set(value) {
            startedFlow.value = value
        }

    @Volatile
    private var closed = false

    /**
     * What [start] made, for the calls a listener may make from its first callbacks: the core client runs (and may call
     * onConnect on its own thread) before [start] has stored it, so a caller that finds nothing yet waits on the
     * monitor [start] holds until then. Outside that window it is a plain read.
     */
    private fun current(): Started? = started ?: synchronized(this) { started }

    /** What exists once the first [connect] has started the core client. */
    private class Started(
        val client: ParleyClient,
        val handler: ListenerHandler,
        val sends: SendForwarder,
        /** The state and event listeners, done once they have delivered STOPPED. */
        val listeners: List<Job>,
    )

    /** Starts the client if need be, for a [ParleyWebSocketPool] that takes it as a member. */
    internal fun poolMember(): PoolMember = PoolMember(start().client, requests)

    /** [state] as Java sees it, for [ParleyWebSocketPool.stats]. */
    @JvmSynthetic
    internal fun javaState(state: ConnectionState): ParleyState = JavaViews.state(state)

    /** Where this socket runs its listener callbacks, and the dependents of its futures. */
    internal val callbackExecutor: SerialExecutor get() = callbacks
    internal val completionExecutor: SerialExecutor get() = completions

    /** The client's name, used in logs. */
    public fun name(): String = options.name

    /** The current state; DISCONNECTED with no last disconnect before the first [connect]. */
    public fun state(): ParleyState = current()?.client?.state?.value?.let(JavaViews::state) ?: JavaViews.notStarted

    /** A snapshot of health and traffic (zeros before the first [connect]). Cheap; never waits on the connection. */
    public fun metrics(): ConnectionMetrics =
        current()?.client?.metrics()?.let(JavaViews::metrics) ?: JavaViews.notStartedMetrics(options.sendQueueCapacity)

    /**
     * The core client's own snapshot, for Kotlin integrations such as `parley-micrometer` (Java sees [metrics]; this
     * method is hidden from it). Before the first [connect] it reads DISCONNECTED with zero counters.
     */
    @JvmSynthetic
    public fun coreMetrics(): ParleyMetrics =
        current()?.client?.metrics() ?: JavaViews.notStartedCoreMetrics(options.sendQueueCapacity)

    /**
     * The core client's [ParleyClient.events], for Kotlin integrations such as `parley-micrometer` (hidden from Java,
     * which has [Builder.eventListener]). A collector may subscribe before the first [connect]: it waits for the client
     * to start, then receives its events as [ParleyClient.events] describes (first the latest one). It completes after
     * [ParleyEvent.Stopped]; one that subscribes before [connect] on a client that is closed without ever connecting
     * waits until it is cancelled.
     */
    @get:JvmSynthetic
    public val coreEvents: Flow<ParleyEvent> =
        flow {
            val client = startedFlow.filterNotNull().first().client
            emitAll(
                client.events.transformWhile {
                    emit(it)
                    it !is ParleyEvent.Stopped
                },
            )
        }

    /**
     * Connects (the first call starts the client) and completes when connected. Completes at once if connected; if
     * connecting, the running attempt is the answer; connects now if a backoff delay is pending. Fails with
     * `ConnectFailedException` if the attempt fails, `ClientStoppedException` after [close].
     */
    public fun connect(): CompletableFuture<Void?> {
        val firstCall = started == null
        val client = try {
            start().client
        } catch (e: ClientStoppedException) {
            return failed(e)
        }
        // The client connects as it starts, so the call that started it is answered by that first attempt, however
        // quickly it ends: asking the client to connect again could open a second connection nobody wanted.
        return if (firstCall) answer { firstAttempt(client) } else answer { client.connect() }
    }

    private suspend fun firstAttempt(client: ParleyClient) {
        val outcome = client.state.first { it !is ConnectionState.Connecting }
        // Disconnected or Stopped after a connection did open: it connected, and that connection has ended already.
        if (outcome is ConnectionState.Connected || client.metrics().connection > 0) return
        throw when (outcome) {
            is ConnectionState.Disconnected -> ConnectFailedException(outcome.reason!!)
            else -> ClientStoppedException((outcome as? ConnectionState.Stopped)?.reason)
        }
    }

    /** Sends a text frame; completes when it has been written to the connection. */
    public fun sendText(text: String): CompletableFuture<Void?> = send(Frame.Text(text))

    /** Sends a binary frame; the array is not copied, so do not modify it afterwards. */
    public fun sendBinary(data: ByteArray): CompletableFuture<Void?> = send(Frame.Binary(data))

    /** Sends a binary frame with the buffer's remaining bytes (copied now; the buffer's position is not moved). */
    public fun sendBinary(data: ByteBuffer): CompletableFuture<Void?> = send(Frame.Binary(data.copyRemaining()))

    /** Sends a ping. @throws IllegalArgumentException if [payload] is longer than 125 bytes. */
    public fun sendPing(payload: ByteArray): CompletableFuture<Void?> = send(Frame.Ping(payload))

    /**
     * Sends [text] as a request and completes with the text of its reply, matched by the codec given to
     * [Builder.requests] (e.g. `JsonRpc.codec()`); the reply does not reach [ParleyListener.onText]. It completes
     * exceptionally with `RequestTimeoutException` when no reply came within the builder's timeout (measured from this
     * call; a reply after it goes to [ParleyListener.onUnmatchedReply]), with `ConnectionClosedException` when the
     * connection ended first (the request is never sent again), or with the send's failure (`NotConnectedException`,
     * `SendQueueFullException`: a request never waits for room). Safe from inside callbacks: chain on the future.
     *
     * @throws IllegalStateException if the builder was given no request codec.
     * @throws IllegalArgumentException if the codec cannot read or stamp [text], or its id is already waiting
     *   (`DuplicateRequestIdException`).
     */
    public fun request(text: String): CompletableFuture<String> = request(text, null)

    /** [request] with its own [timeout] instead of the builder's. */
    public fun request(text: String, timeout: Duration?): CompletableFuture<String> {
        val requests =
            checkNotNull(requests) { "no request codec: give one to the builder with requests(codec, timeout)" }
        current() ?: return failedWith(NotConnectedException("not connected: call connect() first"))
        val reply = requests.requestAsync(Frame.Text(text), timeout?.toKotlinDuration() ?: requests.timeout)
        val future = CallbackFuture<String>(completions, callbacks)
        reply.asCompletableFuture().whenComplete { frame, failure ->
            if (failure == null) future.complete(frame.text()) else future.completeExceptionally(failure)
        }
        return future
    }

    /** The counts and latency of [request]s so far; zeros without a request codec or before the first [connect]. */
    public fun requestStats(): RequestStats {
        val m = requests?.metrics()
        return if (m == null) {
            RequestStats(0, 0, 0, 0, 0, JavaViews.latency(LatencyStats.EMPTY))
        } else {
            RequestStats(m.pending, m.answered, m.timedOut, m.failed, m.unmatched, JavaViews.latency(m.latency))
        }
    }

    private fun <T> failedWith(e: Throwable) = CallbackFuture<T>(completions, callbacks).also {
        it.completeExceptionally(e)
    }

    private fun send(frame: Frame): CompletableFuture<Void?> =
        current()?.sends?.send(frame) ?: failed(NotConnectedException("not connected: call connect() first"))

    /**
     * Runs the close handshake with [code] and [reason]; completes when it ends (the peer answered, or the close
     * timeout aborted the socket). Messages the peer sends before its answer still reach the listener. The client stays alive
     * and does not reconnect by itself; [connect] brings it back. From inside a callback it completes once requested.
     *
     * @throws IllegalArgumentException if [code] may not be sent or [reason] is over 123 UTF-8 bytes.
     */
    public fun disconnect(code: Int, reason: String): CompletableFuture<Void?> {
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        require(reason.toByteArray(Charsets.UTF_8).size <= 123) { "close reason must be at most 123 bytes in UTF-8" }
        val client = current()?.client ?: return CompletableFuture.completedFuture(null)
        return answer { client.disconnect(code, reason) }
    }

    /** [disconnect] with 1000 and an empty reason. */
    public fun disconnect(): CompletableFuture<Void?> = disconnect(CloseCodes.NORMAL, "")

    /** Delivers [message] to [ParleyListener.onInfo]; `false` if not started, stopped, or the mailbox is full. */
    public fun tell(message: Any): Boolean = current()?.client?.tell(message) ?: false

    /**
     * Stops the client for good; completes when its socket and coroutines are released (a close frame is sent; nothing
     * waits for the peer's answer). Idempotent. Message callbacks not started yet are skipped; sends still waiting for
     * room fail with `ClientStoppedException`.
     */
    public fun stop(): CompletableFuture<Void?> = end(abort = false)

    /** Stops the client at once without a close frame (the socket is dropped); otherwise as [stop]. */
    public fun cancel(): CompletableFuture<Void?> = end(abort = true)

    private fun end(abort: Boolean): CompletableFuture<Void?> {
        closed = true
        val s = synchronized(this) { started } ?: return CompletableFuture.completedFuture(null)
        s.handler.skipRemaining()
        return answer { if (abort) s.client.cancel() else s.client.stop() }
    }

    /**
     * Stops the client ([stop]) and waits until it has stopped and its listeners have been told (the last
     * `onStateChange` is STOPPED; no callback follows once this returns). From inside a callback (or a future this
     * client completes) it only requests the stop and returns, since waiting there could never end; so it does if the
     * calling thread is the one the callback executor runs callbacks on: use [stop] there.
     */
    override fun close() {
        closed = true
        val s = synchronized(this) { started } ?: return
        s.handler.skipRemaining()
        val stopping = scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) { s.client.stop() }
        if (SerialExecutor.isRunningTask) return
        stopping.asCompletableFuture().join()
        s.listeners.forEach { it.asCompletableFuture().join() }
    }

    /**
     * Runs [block] for a future completed on [completions] with its outcome, exactly once. It starts on the caller's
     * thread, so its request reaches the client before this returns: a `connect()` made while connecting is answered by
     * that attempt, and a `disconnect()` after `sendText` closes behind the frame.
     */
    private fun answer(block: suspend () -> Unit): CompletableFuture<Void?> {
        val future = CallbackFuture<Void?>(completions, callbacks)
        // Unconfined: started inside a callback it runs on the client's own thread, where the core sees a caller that
        // suspends (and resumes wherever the core answers it), not one that blocks that thread.
        scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) {
            val failure = runCatching { block() }.exceptionOrNull()
            if (failure == null) future.complete(null) else future.completeExceptionally(failure)
        }
        return future
    }

    private fun failed(e: Throwable) = CallbackFuture<Void?>(completions, callbacks).also {
        it.completeExceptionally(e)
    }

    @Synchronized
    private fun start(): Started {
        started?.let { return it }
        if (closed) throw ClientStoppedException(null)
        val handler = ListenerHandler(listener, callbacks, loopOnCallbacks, JavaViews::disconnect)
        val client = Parley.start(handler, Unit, options)
        // Both listeners end once they have delivered STOPPED, so nothing outlives the client.
        val states = scope.launch {
            client.state.transformWhile {
                emit(it)
                it !is ConnectionState.Stopped
            }.collect { s ->
                callbacks.run { listener.onStateChange(JavaViews.state(s)) }
            }
        }
        val events = eventListener?.let { events ->
            scope.launch {
                client.events.transformWhile {
                    emit(it)
                    it !is ParleyEvent.Stopped
                }.collect { e ->
                    callbacks.run { events.onEvent(JavaViews.event(e)) }
                }
            }
        }
        val sends =
            SendForwarder(
                client,
                options.sendOverflow,
                options.sendQueueCapacity,
                scope,
                completions,
                callbacks,
                gated = options.sendGate != null,
            )
        return Started(client, handler, sends, listOfNotNull(states, events)).also { started = it }
    }

    /**
     * Configures a [ParleyWebSocket]; [build] validates. Setters return the builder. Defaults: connect timeout 10 s,
     * close timeout 5 s, no reconnection, a 1024-frame send queue that makes senders wait when full, 16 MiB messages.
     */
    public class Builder internal constructor(
        private val uri: URI,
    ) {
        /** Applied in order to Parley's own options builder by [build], which validates the result. */
        private val settings = mutableListOf<ParleyOptions.Builder.() -> Unit>()
        private var listener: ParleyListener = object : ParleyListener {}
        private var eventListener: ParleyEventListener? = null
        private var executor: Executor? = null
        private var requestCodec: RequestCodec<*>? = null
        private var requestTimeout: Duration = Duration.ofSeconds(30)

        /** Adds a header to the upgrade request. */
        public fun header(name: String, value: String): Builder = apply { settings += { header(name, value) } }

        /** Marks a header name as secret: its value never appears in logs. */
        public fun sensitiveHeader(name: String): Builder = apply { settings += { sensitiveHeaders += name } }

        /** Subprotocols to offer, in order of preference. */
        public fun subprotocols(vararg protocols: String): Builder = apply { settings += { subprotocols += protocols } }

        /** Bounds DNS + TCP + TLS + upgrade together. */
        public fun connectTimeout(timeout: Duration): Builder =
            apply { settings += { connectTimeout = timeout.toKotlinDuration() } }

        /** How long to wait for the peer's close frame before aborting the socket. */
        public fun closeTimeout(timeout: Duration): Builder =
            apply { settings += { closeTimeout = timeout.toKotlinDuration() } }

        /**
         * Reconnects automatically with equal-jitter exponential backoff between [baseDelay] and [maxDelay], at most
         * [maxRetries] times in a row (a negative value for unlimited). The count resets after 10 s connected.
         */
        public fun reconnect(baseDelay: Duration, maxDelay: Duration, maxRetries: Int): Builder =
            reconnect(baseDelay, maxDelay, maxRetries, Duration.ofSeconds(10))

        /** As [reconnect], with the time a connection must stay up before the retry count resets. */
        public fun reconnect(baseDelay: Duration, maxDelay: Duration, maxRetries: Int, stableAfter: Duration): Builder =
            apply {
                val policy =
                    ReconnectPolicy(
                        baseDelay.toKotlinDuration(),
                        maxDelay.toKotlinDuration(),
                        maxRetries.takeIf { it >= 0 },
                        stableAfter.toKotlinDuration(),
                    )
                settings += { reconnect = policy }
            }

        /**
         * Detects dead connections: pings after [interval] without inbound traffic and drops the connection (then
         * reconnects per policy) when neither the pong nor any other frame arrives within [pongTimeout].
         */
        public fun heartbeat(interval: Duration, pongTimeout: Duration): Builder = apply {
            val policy = HeartbeatPolicy(interval.toKotlinDuration(), pongTimeout.toKotlinDuration())
            settings += { heartbeat = policy }
        }

        /**
         * [heartbeat] with application-level pings: [app] builds each ping message (a JSON `public/test` call, say)
         * and recognises its answer, and answers the server's own application-level pings. Only data messages prove
         * liveness then, so a server whose WebSocket layer still answers pings while its application is stuck is found
         * dead ([DisconnectInfo.Kind.HEARTBEAT_TIMEOUT]). `JsonRpc.heartbeat()` in `parley-jsonrpc` is Deribit's.
         */
        public fun heartbeat(interval: Duration, pongTimeout: Duration, app: AppHeartbeat): Builder = apply {
            val policy = HeartbeatPolicy(interval.toKotlinDuration(), pongTimeout.toKotlinDuration(), app)
            settings += { heartbeat = policy }
        }

        /** Receives lifecycle events (connecting, disconnected, reconnect scheduled, heartbeat timeout, …). */
        public fun eventListener(listener: ParleyEventListener): Builder = apply { this.eventListener = listener }

        /** No automatic reconnection (the default). */
        public fun noReconnect(): Builder = apply { settings += { reconnect = null } }

        /**
         * The send queue's capacity in frames, and what a send does when it is full: with [SendOverflow.SUSPEND] its
         * future waits for room (at most [capacity] sends wait; beyond that they fail with `SendQueueFullException`),
         * with [SendOverflow.FAIL] it fails at once.
         */
        public fun sendQueue(capacity: Int, overflow: SendOverflow): Builder = apply {
            settings += {
                sendQueueCapacity = capacity
                sendOverflow = overflow
            }
        }

        /** The largest inbound message accepted, in bytes; larger closes the connection with 1009. */
        public fun maxFrameSize(bytes: Long): Builder = apply { settings += { maxFrameSize = bytes } }

        /**
         * permessage-deflate as [compression] describes it (on by default with [Compression]'s defaults; build one with
         * `Compression.builder()`): Parley offers it and the server decides.
         */
        public fun compression(compression: Compression): Builder =
            apply { settings += { this.compression = compression } }

        /** Offers no compression: every frame goes as it is. */
        public fun noCompression(): Builder = apply { settings += { compression = null } }

        /**
         * Sends `Authorization: Bearer <token>` with every attempt, [token] fetching a fresh one shortly before
         * the one in hand expires or after a 401 (build it with `BearerToken.of(refreshBefore, fetch)`). Replaces a
         * [connectionInfo] function set before, and is replaced by one set after. A 401 is fatal, except once for a
         * token reused from an earlier attempt (the next attempt then fetches a fresh one); set a [recoveryPolicy]
         * of your own before this call, as this one wraps it.
         */
        public fun bearerToken(token: BearerToken): Builder = apply { settings += { bearerToken(token) } }

        /**
         * Computes each attempt's URL, extra headers and subprotocols: [provider] is called at the start of every
         * attempt, inside the connect timeout, and its stage's [ConnectionInfo] (build one with
         * `ConnectionInfo.builder()`) is used for that attempt only. For tokens that expire, rotating endpoints and
         * signed URLs. A stage that fails, or info that is invalid, ends the attempt as
         * [DisconnectInfo.Kind.CONNECTION_INFO_FAILED] and the reconnect policy applies. It may run on the client's
         * own thread: it must not block; return a stage that completes later instead.
         */
        public fun connectionInfo(provider: Function<ConnectionAttempt, CompletionStage<ConnectionInfo>>): Builder =
            apply {
                settings += {
                    connectionInfo = ConnectionInfoProvider { context ->
                        val attempt = ConnectionAttempt(
                            context.attempt,
                            context.connections,
                            context.lastReason?.let(JavaViews::disconnect),
                        )
                        provider.apply(attempt).await()
                    }
                }
            }

        /**
         * Decides which disconnects the reconnect policy retries: [recoverable] answers for each one, on the
         * client's own thread (so quickly, without blocking). By default [DisconnectInfo.recoverable], which calls a
         * 401, 403 or 404 fatal: the client then stays disconnected until [connect] instead of retrying a refused
         * request forever. A recoverable reason with a `Retry-After` still waits that long. A predicate that throws
         * stops the client as a failed listener does.
         */
        public fun recoveryPolicy(recoverable: Predicate<DisconnectInfo>): Builder = apply {
            settings += {
                recoveryPolicy = RecoveryPolicy { reason ->
                    if (recoverable.test(JavaViews.disconnect(reason))) {
                        reason.recovery as? Recovery.Recoverable ?: Recovery.Recoverable()
                    } else {
                        Recovery.Fatal
                    }
                }
            }
        }

        /**
         * Matches replies to [ParleyWebSocket.request]s with [codec] (`JsonRpc.codec()` from `parley-jsonrpc` for
         * JSON-RPC 2.0, or one of your own), each waiting at most [timeout] for its reply unless the call gives its
         * own. Without this, [ParleyWebSocket.request] is refused. Its layer comes after every [layer], so a
         * `Subscriptions` sees its own confirmations first.
         */
        public fun requests(codec: RequestCodec<*>, timeout: Duration): Builder = apply {
            require(!timeout.isNegative && !timeout.isZero) { "request timeout must be positive but was $timeout" }
            requestCodec = codec
            requestTimeout = timeout
        }

        /**
         * Adds [layer] between the client and the listener, after those added before: a `Subscriptions` (build it
         * with `Subscriptions.create(codec, confirmTimeout)`), for one. A layer serves one client, so build one per
         * [ParleyWebSocket]. For requests with replies use [requests], which also gives [ParleyWebSocket.request].
         */
        public fun layer(layer: ClientLayer): Builder = apply { settings += { layer(layer) } }

        /**
         * Passes every text and binary frame sent through this client through [gate] first: a rate limit, such as
         * `TokenBucketGate.create(…)` from `parley-ratelimit`. A send over the limit waits its turn (up to the gate's
         * maximum wait) or fails with `RateLimitedException`; a frame that then fails before it is written gives its
         * cost back. A listener's [Reply] frames and pings are not gated.
         */
        public fun sendGate(gate: SendGate): Builder = apply { settings += { sendGate = gate } }

        /**
         * Shows [tap] every frame this client sends and receives, and each connection's start and end: a
         * `FrameRecorder.create(…)` from `parley-recorder` writes them to a file. The tap is called on the
         * connection's own threads, so it must never block; a tap that throws is logged once and ignored.
         */
        public fun wireTap(tap: WireTap): Builder = apply { settings += { wireTap = tap } }

        /**
         * Transforms every outgoing text and binary frame once, in one place (stamping, signing, encoding): as it is
         * sent, on the sending thread, and for a listener's [Reply] frames on the client's thread; requests are stamped
         * with their id first. What [preparer] throws fails that send. Pings and close frames are not passed to it.
         */
        public fun prepareFrame(preparer: FramePreparer): Builder = apply { settings += { prepareFrame = preparer } }

        /** Trusts the server's certificate chain with [trustManager] instead of the JVM's default trust store. */
        public fun trustManager(trustManager: X509TrustManager): Builder =
            apply { settings += { tls = tls.copy(trustManager = trustManager) } }

        /** The TLS server name (SNI, and the name the certificate must match), if not the URL's host. */
        public fun serverName(serverName: String): Builder =
            apply { settings += { tls = tls.copy(serverName = serverName) } }

        /**
         * How the server is reached: [ProxySettings.http], [ProxySettings.socks5], [ProxySettings.direct], or (the
         * default) [ProxySettings.system], which follows the JVM's `ProxySelector` and so `-Dhttps.proxyHost` and
         * `-DsocksProxyHost`. A failing proxy is a [DisconnectInfo.Kind.CONNECT_FAILED] whose cause is a
         * [dev.parley.ProxyException] naming the proxy's answer.
         */
        public fun proxy(proxy: ProxySettings): Builder = apply { settings += { this.proxy = proxy } }

        /**
         * Presents a client certificate from [keyManager] when the server asks for one (mutual TLS); see
         * [TlsSettings.keyManagerFrom] for one over a PKCS#12 key store.
         */
        public fun keyManager(keyManager: X509KeyManager): Builder =
            apply { settings += { tls = tls.copy(keyManager = keyManager) } }

        /**
         * Uses [sslContext] for TLS (your own provider, trust and keys) instead of the JVM's default context; not
         * together with [trustManager] or [keyManager].
         */
        public fun sslContext(sslContext: SSLContext): Builder =
            apply { settings += { tls = tls.copy(sslContext = sslContext) } }

        /** Enables only these TLS versions, e.g. `"TLSv1.3"`; by default the platform's. */
        public fun tlsProtocols(vararg protocols: String): Builder =
            apply { settings += { tls = tls.copy(protocols = protocols.toList()) } }

        /** Enables only these cipher suites; by default the platform's. */
        public fun cipherSuites(vararg suites: String): Builder =
            apply { settings += { tls = tls.copy(cipherSuites = suites.toList()) } }

        /**
         * How long a write may make no progress before the connection is declared dead
         * ([DisconnectInfo.Kind.WRITE_TIMEOUT]); default 30 s.
         */
        public fun writeTimeout(timeout: Duration): Builder =
            apply { settings += { writeTimeout = timeout.toKotlinDuration() } }

        /** The name used in logs. */
        public fun name(name: String): Builder = apply { settings += { this.name = name } }

        /** Receives events; see [ParleyListener] for how callbacks run. */
        public fun listener(listener: ParleyListener): Builder = apply { this.listener = listener }

        /**
         * Runs listener callbacks, and the dependents of futures, on [executor]: callbacks one at a time, in order (an
         * Android main-thread executor, say); message callbacks are then pipelined up to [maxPendingCallbacks]. By
         * default callbacks run on the client's own thread, one of `Dispatchers.IO` (see [ParleyListener]).
         */
        public fun callbackExecutor(executor: Executor): Builder = apply { this.executor = executor }

        /**
         * With a [callbackExecutor], how many message callbacks (`onText`, `onBinary`, `onPing`, `onPong`, `onInfo`) may
         * be handed to it ahead of the listener (default 256). When that many have been received and not finished, the
         * client stops reading until half of them have, so a slow listener slows the peer down instead of filling
         * memory; up to this many received messages may be held at once. (Without an executor of your own, callbacks
         * run on the client's thread and nothing is held.) Validated by [build], which throws
         * `IllegalArgumentException` naming `maxPendingCallbacks` unless it is positive.
         */
        public fun maxPendingCallbacks(count: Int): Builder = apply { settings += { maxPendingCallbacks = count } }

        /**
         * How many bytes of received messages may be held for the listener at once (default 8 MiB): read but not yet
         * handed to it, or handed to a [callbackExecutor] and not finished. Beyond it the client reads nothing more
         * until some are done, so TCP pushes back on a peer that floods it; each message counts its payload plus about
         * 100 bytes. One message larger than this (up to [maxFrameSize]) still passes when nothing else is held.
         * Validated by [build] (positive).
         */
        public fun maxBufferedInbound(bytes: Long): Builder = apply { settings += { maxBufferedInboundBytes = bytes } }

        /** Validates and builds. @throws IllegalArgumentException naming the bad option. */
        public fun build(): ParleyWebSocket {
            // By default the client's loop runs where the callbacks run, so a message reaches the listener without a
            // hand-off to another thread (the cost that dominates a small message). It runs on Dispatchers.IO, one
            // task at a time: a listener that blocks holds up only its own client (IO makes a thread for each such
            // view instead of starving Dispatchers.Default), and waking the client costs what it costs a Kotlin
            // client. An executor of the user's (Android's main thread, say) gets only the callbacks.
            val loopOnCallbacks = executor == null
            val callbacks = SerialExecutor(executor ?: oneAtATimeOnIo())
            val completions = executor ?: oneAtATimeOnIo()
            // A layer serves one client, so each build makes its own.
            val requests = requestCodec?.let { Requests(it, requestTimeout.toKotlinDuration()) }
            val options =
                parleyOptions {
                    url = uri.toString()
                    settings.forEach { it() }
                    requests?.let { layer(it) }
                    if (loopOnCallbacks) dispatcher = callbacks.asCoroutineDispatcher()
                }
            return ParleyWebSocket(options, requests, listener, eventListener, callbacks, loopOnCallbacks, completions)
        }
    }

    public companion object {
        private fun oneAtATimeOnIo(): Executor = Dispatchers.IO.limitedParallelism(1).asExecutor()

        /** Starts configuring a client for a `ws://` or `wss://` [uri]. */
        @JvmStatic
        public fun builder(uri: URI): Builder = Builder(uri)
    }
}

/** Java views of the core's Kotlin types: plain classes with enums, `java.time.Duration` and `int` codes. */
private object JavaViews {
    val notStarted =
        ParleyState(ParleyState.Kind.DISCONNECTED, null, null, 0, null, emptyMap(), null, null, null, false)

    fun notStartedCoreMetrics(capacity: Int) = ParleyMetrics(
        ConnectionState.Disconnected(null, null, 0), kotlin.time.Duration.ZERO, null, 0, 0, 0, 0, 0, 0, 0, capacity, 0,
        null, LatencyStats.EMPTY,
    )

    fun notStartedMetrics(capacity: Int) = ConnectionMetrics(
        notStarted, Duration.ZERO, null, 0, 0, 0, 0, 0, 0, 0, capacity, 0, null, latency(LatencyStats.EMPTY), 0, null,
        0,
    )

    fun state(state: ConnectionState): ParleyState = when (state) {
        is ConnectionState.Disconnected ->
            ParleyState(
                ParleyState.Kind.DISCONNECTED, state.reason?.let(::disconnect), state.nextAttemptIn?.toJavaDuration(),
                state.failedAttempts, null, emptyMap(), null, null, null, state.awaitingDecision,
            )

        is ConnectionState.Connecting ->
            ParleyState(
                ParleyState.Kind.CONNECTING, null, null, state.attempt, null, emptyMap(), null, null, null, false,
            )

        is ConnectionState.Connected ->
            ParleyState(
                ParleyState.Kind.CONNECTED, null, null, 0, state.subprotocol, state.responseHeaders, null, null, null,
                false,
            )

        is ConnectionState.Stopped -> {
            val (kind, value, cause) =
                when (val r = state.reason) {
                    StopReason.Requested -> Triple(ParleyState.StopKind.REQUESTED, null, null)

                    StopReason.Aborted -> Triple(ParleyState.StopKind.ABORTED, null, null)

                    is StopReason.Cancelled -> Triple(ParleyState.StopKind.CANCELLED, null, r.cause)

                    is StopReason.ByHandler -> Triple(ParleyState.StopKind.BY_LISTENER, r.reason, null)

                    is StopReason.HandlerFailed -> Triple(ParleyState.StopKind.LISTENER_FAILED, null, r.cause)

                    is StopReason.Failed -> Triple(ParleyState.StopKind.FAILED, null, r.cause)

                    is StopReason.RetriesExhausted -> {
                        val gaveUp = RetriesExhaustedException(r.attempts, r.last)
                        Triple(ParleyState.StopKind.RETRIES_EXHAUSTED, null, gaveUp)
                    }
                }
            ParleyState(ParleyState.Kind.STOPPED, null, null, 0, null, emptyMap(), kind, value, cause, false)
        }
    }

    fun disconnect(reason: DisconnectReason): DisconnectInfo {
        fun info(
            kind: DisconnectInfo.Kind,
            code: Int = CloseCodes.ABNORMAL,
            closeReason: String = "",
            acknowledged: Boolean = false,
            listenerReason: Any? = null,
            status: Int = 0,
            headers: Map<String, List<String>> = emptyMap(),
            cause: Throwable? = null,
        ) = DisconnectInfo(
            kind, code, closeReason, acknowledged, listenerReason, status, headers, reason.toString(), cause,
            reason.explain(), reason.recovery is Recovery.Recoverable,
            (reason.recovery as? Recovery.Recoverable)?.retryAfter?.toJavaDuration(),
        )
        return when (reason) {
            is DisconnectReason.ClosedLocally ->
                info(DisconnectInfo.Kind.CLOSED_LOCALLY, reason.code, reason.reason, reason.acknowledged)

            is DisconnectReason.ClosedByPeer ->
                info(DisconnectInfo.Kind.CLOSED_BY_PEER, reason.code, reason.reason, acknowledged = true)

            is DisconnectReason.ByHandler ->
                info(DisconnectInfo.Kind.BY_LISTENER, reason.closeCode, "", reason.acknowledged, reason.reason)

            is DisconnectReason.ConnectFailed -> info(DisconnectInfo.Kind.CONNECT_FAILED, cause = reason.cause)

            is DisconnectReason.HandshakeRejected ->
                info(DisconnectInfo.Kind.HANDSHAKE_REJECTED, status = reason.status, headers = reason.headers)

            is DisconnectReason.ConnectTimedOut -> info(DisconnectInfo.Kind.CONNECT_TIMEOUT)

            is DisconnectReason.ProtocolViolation -> info(DisconnectInfo.Kind.PROTOCOL_VIOLATION, reason.closeCode)

            is DisconnectReason.MessageTooBig -> info(DisconnectInfo.Kind.MESSAGE_TOO_BIG, CloseCodes.MESSAGE_TOO_BIG)

            is DisconnectReason.TransportFailed -> info(DisconnectInfo.Kind.TRANSPORT_FAILED, cause = reason.cause)

            is DisconnectReason.HeartbeatTimedOut -> info(DisconnectInfo.Kind.HEARTBEAT_TIMEOUT)

            is DisconnectReason.WriteTimedOut -> info(DisconnectInfo.Kind.WRITE_TIMEOUT)

            is DisconnectReason.ConnectionInfoFailed ->
                info(DisconnectInfo.Kind.CONNECTION_INFO_FAILED, cause = reason.cause)
        }
    }

    fun metrics(m: ParleyMetrics): ConnectionMetrics = ConnectionMetrics(
        state(m.state), m.timeInState.toJavaDuration(), m.connectedSince, m.reconnectAttempts, m.totalReconnects,
        m.framesSent, m.bytesSent, m.framesReceived, m.bytesReceived, m.sendQueueDepth, m.sendQueueCapacity,
        m.missedPongs, m.lastDisconnectReason?.let(::disconnect), latency(m.latency), m.pendingCallbacks,
        m.lastHeartbeatAnsweredAt, m.consecutiveMissedHeartbeats,
    )

    fun latency(l: LatencyStats) = ConnectionMetrics.Latency(
        l.count,
        l.total.toJavaDuration(),
        l.last?.toJavaDuration(),
        l.min?.toJavaDuration(),
        l.p50?.toJavaDuration(),
        l.p90?.toJavaDuration(),
        l.p99?.toJavaDuration(),
        l.max?.toJavaDuration(),
    )

    fun event(e: ParleyEvent): ParleyEventInfo {
        fun info(
            kind: ParleyEventInfo.Kind,
            attempt: Int = 0,
            delay: Duration? = null,
            disconnect: DisconnectInfo? = null,
            cause: Throwable? = null,
            key: Any? = null,
            reason: String? = null,
            late: Boolean = false,
            limit: Int = 0,
        ) = ParleyEventInfo(kind, attempt, delay, disconnect, cause, key, reason, late, limit)
        return when (e) {
            is ParleyEvent.Connecting -> info(ParleyEventInfo.Kind.CONNECTING, e.attempt)

            is ParleyEvent.Connected -> info(ParleyEventInfo.Kind.CONNECTED, delay = e.connectTime.toJavaDuration())

            is ParleyEvent.HeartbeatAnswered ->
                info(ParleyEventInfo.Kind.HEARTBEAT_ANSWERED, delay = e.roundTrip.toJavaDuration())

            is ParleyEvent.Disconnected -> info(ParleyEventInfo.Kind.DISCONNECTED, disconnect = disconnect(e.reason))

            is ParleyEvent.ReconnectScheduled ->
                info(ParleyEventInfo.Kind.RECONNECT_SCHEDULED, e.attempt, e.delay.toJavaDuration())

            is ParleyEvent.HeartbeatTimedOut ->
                info(ParleyEventInfo.Kind.HEARTBEAT_TIMEOUT, delay = e.pongTimeout.toJavaDuration())

            is ParleyEvent.FrameDropped -> info(ParleyEventInfo.Kind.FRAME_DROPPED, cause = e.cause)

            is ParleyEvent.HandlerFailed -> info(ParleyEventInfo.Kind.LISTENER_FAILED, cause = e.cause)

            is ParleyEvent.Stopped -> info(ParleyEventInfo.Kind.STOPPED)

            is ParleyEvent.RequestTimedOut ->
                info(ParleyEventInfo.Kind.REQUEST_TIMED_OUT, delay = e.timeout.toJavaDuration(), key = e.id)

            is ParleyEvent.UnmatchedReplyReceived -> info(
                ParleyEventInfo.Kind.UNMATCHED_REPLY,
                key = e.id,
                late = e.late,
            )

            is ParleyEvent.PendingRequestsFull -> info(ParleyEventInfo.Kind.PENDING_REQUESTS_FULL, limit = e.maxPending)

            is ParleyEvent.SubscriptionConfirmed -> info(ParleyEventInfo.Kind.SUBSCRIPTION_CONFIRMED, key = e.key)

            is ParleyEvent.SubscriptionRefused ->
                info(ParleyEventInfo.Kind.SUBSCRIPTION_REFUSED, key = e.key, reason = e.reason)

            is ParleyEvent.SubscriptionTimedOut ->
                info(
                    ParleyEventInfo.Kind.SUBSCRIPTION_TIMED_OUT,
                    delay = e.confirmTimeout.toJavaDuration(),
                    key = e.key,
                )

            is ParleyEvent.SubscriptionRestored -> info(ParleyEventInfo.Kind.SUBSCRIPTION_RESTORED, key = e.key)

            is ParleyEvent.SendRateLimited ->
                info(ParleyEventInfo.Kind.SEND_RATE_LIMITED, delay = e.retryAfter.toJavaDuration())

            is ParleyEvent.SendDelayed -> info(ParleyEventInfo.Kind.SEND_DELAYED, delay = e.wait.toJavaDuration())
        }
    }
}
