package dev.parley.java

import dev.parley.CloseCodes
import dev.parley.ConnectionState
import dev.parley.Frame
import dev.parley.HeartbeatPolicy
import dev.parley.Parley
import dev.parley.ParleyClient
import dev.parley.ParleyOptions
import dev.parley.ReconnectPolicy
import dev.parley.SendOverflow
import dev.parley.SendQueueFullException
import dev.parley.SendResult
import dev.parley.parleyOptions
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.future.asCompletableFuture
import kotlinx.coroutines.future.future
import kotlinx.coroutines.isActive
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.slf4j.LoggerFactory
import java.net.URI
import java.nio.ByteBuffer
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import javax.net.ssl.X509TrustManager
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
 * Every method may be called from any thread. Futures complete exceptionally with the Kotlin API's typed exceptions
 * (all `java.io.IOException`s): `NotConnectedException`, `SendQueueFullException`, `ConnectionClosedException`,
 * `ClientStoppedException`, `ConnectFailedException`. Cancelling a send's future does not withdraw the frame.
 *
 * Listener callbacks run one at a time, in order, on the callback executor. Message callbacks are pipelined: the client
 * reads up to [Builder.maxPendingCallbacks] messages ahead of the listener, then stops reading until it catches up.
 * Frames a message callback replies are queued when it returns, behind frames already queued; frames replied from
 * `onConnect` still precede every frame queued while connecting. See [ParleyListener] and [Reply].
 */
public class ParleyWebSocket private constructor(
    private val options: ParleyOptions,
    private val listener: ParleyListener,
    private val eventListener: ParleyEventListener?,
    callbackExecutor: Executor,
    private val maxPendingCallbacks: Int,
) : AutoCloseable {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** Replies waiting for room in the send queue, and markers waiting for room in the mailbox: cancelled on stop. */
    private val replies = CoroutineScope(scope.coroutineContext + SupervisorJob(scope.coroutineContext.job))
    private val callbacks = SerialExecutor(callbackExecutor)

    /** Created by the first [connect]; the core client connects as it starts. */
    @Volatile
    private var client: ParleyClient? = null

    /** The listener's core handler, created with [client]. */
    @Volatile
    private var handler: ListenerHandler? = null

    @Volatile
    private var closed = false

    /** The client's name, used in logs. */
    public fun name(): String = options.name

    /** The current state. */
    public fun state(): ParleyState = client?.state?.value?.toJava() ?: ParleyStates.NOT_STARTED

    /** A snapshot of health and traffic; `null` before the first [connect]. Cheap; never waits on the connection. */
    public fun metrics(): ConnectionMetrics? = client?.metrics()?.toJava()

    /**
     * Connects (the first call starts the client) and completes when connected. Completes at once if connected; joins a
     * running attempt; connects now if a backoff delay is pending. Fails with `ConnectFailedException` if the attempt
     * fails, `ClientStoppedException` after [close].
     */
    public fun connect(): CompletableFuture<Void?> {
        // Started here, not in the future, so frames sent right after connect() are queued for the upgrade.
        val c =
            try {
                started()
            } catch (e: dev.parley.ClientStoppedException) {
                return CompletableFuture.failedFuture(e)
            }
        return scope.future { c.connect() }.thenApply<Void?> { null }
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
     * Runs the close handshake with [code] and [reason]; completes when it ends (the peer answered, or the close timeout
     * aborted the socket). The client stays alive and does not reconnect by itself; [connect] brings it back.
     *
     * @throws IllegalArgumentException if [code] may not be sent or [reason] is over 123 UTF-8 bytes.
     */
    public fun disconnect(code: Int, reason: String): CompletableFuture<Void?> {
        require(CloseCodes.isSendable(code)) { "close code $code may not be sent in a close frame" }
        require(reason.toByteArray(Charsets.UTF_8).size <= 123) { "close reason must be at most 123 bytes in UTF-8" }
        val c = client?.takeUnless { closed } ?: return CompletableFuture.completedFuture(null)
        return scope.future { c.disconnect(code, reason) }.thenApply<Void?> { null }
    }

    /** [disconnect] with 1000 and an empty reason. */
    public fun disconnect(): CompletableFuture<Void?> = disconnect(CloseCodes.NORMAL, "")

    /** Delivers [message] to [ParleyListener.onInfo]; `false` if not started, stopped, or the mailbox is full. */
    public fun tell(message: Any): Boolean = client?.tell(message) ?: false

    /**
     * Stops the client for good; completes when its socket and coroutines are released. Idempotent. Message callbacks
     * handed to the callback executor but not started yet are skipped, and replies still waiting for room in the send
     * queue are dropped.
     */
    public fun stop(): CompletableFuture<Void?> {
        closed = true
        releaseCallbacks()
        val c = client
        // After close() the scope is gone, and so is the client: nothing left to wait for.
        if (c == null || !scope.isActive) return CompletableFuture.completedFuture(null)
        return scope.future { c.stop() }.thenApply<Void?> { null }
    }

    /** Stops the client and waits for it (a close frame is sent; nothing waits for the peer's answer). */
    override fun close() {
        closed = true
        releaseCallbacks()
        runBlocking { client?.stop() }
        scope.cancel()
    }

    /** Skips queued message callbacks and drops waiting replies, so nothing they hold keeps the client from stopping. */
    private fun releaseCallbacks() {
        handler?.skipQueued()
        replies.cancel()
    }

    /** For tests: per-message callbacks handed to the callback executor and not finished (replies included). */
    @JvmName("pendingCallbacksForTests")
    internal fun pendingCallbacks(): Int = handler?.pendingCallbacks ?: 0

    /** For tests: the most per-message callbacks ever pending at once; never above the bound. */
    @JvmName("pendingCallbacksHighWaterForTests")
    internal fun pendingCallbacksHighWater(): Int = handler?.highWater ?: 0

    private fun send(frame: Frame): CompletableFuture<Void?> {
        val c =
            client
                ?: return CompletableFuture.failedFuture(
                    dev.parley.NotConnectedException("not connected: call connect() first"),
                )
        return when (val result = c.trySend(frame)) {
            is SendResult.Enqueued -> result.written.asCompletableFuture().thenApply<Void?> { null }

            // A full queue with SUSPEND means "wait for room", which a future can do without blocking anyone.
            is SendResult.Rejected ->
                if (result.cause is SendQueueFullException && options.sendOverflow == SendOverflow.SUSPEND) {
                    scope.future { c.send(frame) }.thenApply<Void?> { null }
                } else {
                    CompletableFuture.failedFuture(result.cause)
                }
        }
    }

    @Synchronized
    private fun started(): ParleyClient {
        if (closed) {
            throw dev.parley.ClientStoppedException(
                client?.state?.value?.let {
                    (it as? ConnectionState.Stopped)?.reason
                },
            )
        }
        client?.let { return it }
        val h =
            ListenerHandler(
                listener,
                callbacks,
                maxPendingCallbacks,
                replies,
                waitWhenFull = options.sendOverflow == SendOverflow.SUSPEND,
                log = LoggerFactory.getLogger("dev.parley.Parley.${options.name}"),
            )
        handler = h
        val c = Parley.start(h, Unit, options)
        h.attach(c)
        client = c
        scope.launch { c.state.collect { s -> callbacks.execute { listener.onStateChange(s.toJava()) } } }
        eventListener?.let { events ->
            scope.launch { c.events.collect { e -> callbacks.execute { events.onEvent(e.toJava()) } } }
        }
        return c
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
        private var maxPendingCallbacks = DEFAULT_MAX_PENDING_CALLBACKS

        /** Adds a header to the upgrade request. */
        public fun header(name: String, value: String): Builder = apply { settings += { header(name, value) } }

        /** Marks a header name as secret: its value never appears in logs. */
        public fun sensitiveHeader(name: String): Builder = apply { settings += { sensitiveHeaders += name } }

        /** Subprotocols to offer, in order of preference. */
        public fun subprotocols(vararg protocols: String): Builder = apply { settings += { subprotocols += protocols } }

        /** Bounds DNS + TCP + TLS + upgrade together. */
        public fun connectTimeout(timeout: Duration): Builder = apply {
            settings +=
                { connectTimeout = timeout.toKotlinDuration() }
        }

        /** How long to wait for the peer's close frame before aborting the socket. */
        public fun closeTimeout(timeout: Duration): Builder = apply {
            settings +=
                { closeTimeout = timeout.toKotlinDuration() }
        }

        /**
         * Reconnects automatically with equal-jitter exponential backoff between [baseDelay] and [maxDelay], at most
         * [maxRetries] times in a row (a negative value for unlimited). The count resets after 10 s connected.
         */
        public fun reconnect(baseDelay: Duration, maxDelay: Duration, maxRetries: Int): Builder =
            reconnect(baseDelay, maxDelay, maxRetries, Duration.ofSeconds(10))

        /** As [reconnect], with the time a connection must stay up before the retry count resets. */
        public fun reconnect(
            baseDelay: Duration,
            maxDelay: Duration,
            maxRetries: Int,
            stableAfter: Duration,
        ): Builder = apply {
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

        /** Receives lifecycle events (connecting, disconnected, reconnect scheduled, heartbeat timeout, …). */
        public fun eventListener(listener: ParleyEventListener): Builder = apply { this.eventListener = listener }

        /** No automatic reconnection (the default). */
        public fun noReconnect(): Builder = apply { settings += { reconnect = null } }

        /** The send queue's capacity in frames, and what a send does when it is full. */
        public fun sendQueue(capacity: Int, overflow: SendOverflow): Builder = apply {
            settings += {
                sendQueueCapacity = capacity
                sendOverflow = overflow
            }
        }

        /** The largest inbound message accepted, in bytes; larger closes the connection with 1009. */
        public fun maxFrameSize(bytes: Long): Builder = apply { settings += { maxFrameSize = bytes } }

        /** Trusts the server's certificate chain with [trustManager] instead of the JVM's default trust store. */
        public fun trustManager(trustManager: X509TrustManager): Builder =
            apply { settings += { tls = tls.copy(trustManager = trustManager) } }

        /** The TLS server name (SNI, and the name the certificate must match), if not the URL's host. */
        public fun serverName(serverName: String): Builder = apply {
            settings +=
                { tls = tls.copy(serverName = serverName) }
        }

        /** The name used in logs. */
        public fun name(name: String): Builder = apply { settings += { this.name = name } }

        /** Receives events; see [ParleyListener] for how callbacks run. */
        public fun listener(listener: ParleyListener): Builder = apply { this.listener = listener }

        /**
         * Runs listener callbacks on [executor], one at a time, in order (e.g. an Android main-thread executor). By
         * default a shared pool is used, serially for each client.
         */
        public fun callbackExecutor(executor: Executor): Builder = apply { this.executor = executor }

        /**
         * How many message callbacks (`onText`, `onBinary`, `onPing`, `onPong`, `onInfo`) may be handed to the callback
         * executor ahead of the listener (default 256). When that many have been received and not finished (their
         * replies queued), the client stops reading until one finishes, so a slow listener slows the peer down instead
         * of filling memory; up to this many received messages may be held at once. Validated by [build], which
         * throws `IllegalArgumentException` naming `maxPendingCallbacks` unless it is positive.
         */
        public fun maxPendingCallbacks(count: Int): Builder = apply { this.maxPendingCallbacks = count }

        /** Validates and builds. @throws IllegalArgumentException naming the bad option. */
        public fun build(): ParleyWebSocket {
            val options =
                parleyOptions {
                    url = uri.toString()
                    settings.forEach { it() }
                }
            require(maxPendingCallbacks > 0) { "maxPendingCallbacks must be positive, was $maxPendingCallbacks" }
            return ParleyWebSocket(
                options,
                listener,
                eventListener,
                executor ?: SerialExecutor.sharedPool,
                maxPendingCallbacks,
            )
        }
    }

    public companion object {
        /** Starts configuring a client for a `ws://` or `wss://` [uri]. */
        @JvmStatic
        public fun builder(uri: URI): Builder = Builder(uri)
    }
}

/**
 * How many message callbacks may be handed to the callback executor before the client stops reading. Large enough that
 * the connection loop almost never waits for the listener's thread to wake up at high message rates (pipelining is
 * what makes the facade fast), small enough that a stalled listener holds a bounded number of received messages and
 * pushes back on the peer through TCP instead of queueing without bound.
 */
private const val DEFAULT_MAX_PENDING_CALLBACKS = 256

/** The buffer's remaining bytes, copied without moving the caller's position. */
internal fun ByteBuffer.copyRemaining(): ByteArray = ByteArray(remaining()).also { duplicate().get(it) }
