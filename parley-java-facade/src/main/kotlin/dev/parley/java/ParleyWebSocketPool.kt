package dev.parley.java

import dev.parley.ClientStoppedException
import dev.parley.Frame
import dev.parley.ParleyPool
import dev.parley.PoolMetrics
import dev.parley.java.internal.CallbackFuture
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.function.IntFunction
import kotlin.time.toKotlinDuration

/**
 * Several [ParleyWebSocket]s to one endpoint (or several) behind one send API, for Java: each send and request goes
 * to the healthiest connected member, as the Kotlin `ParleyPool` describes (its routing, failover and order rules are
 * these). Start it with [start]; [stop] or [close] stops every member.
 *
 * A frame a member refused before queueing it goes to another member; one lost with its connection is sent again
 * through another only when the caller says it is idempotent; a request is never sent twice. Futures complete
 * exceptionally with the same typed exceptions as [ParleyWebSocket]'s, and with `PoolUnavailableException` when no
 * member is connected. As for a single socket, waiting on them inside a member's listener callback fails at once.
 */
public class ParleyWebSocketPool private constructor(
    private val sockets: List<ParleyWebSocket>,
    private val pool: ParleyPool,
) : AutoCloseable {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val callbacks = sockets.map { it.callbackExecutor }

    /** The members, in the order the factory made them. */
    public fun sockets(): List<ParleyWebSocket> = sockets

    /** Sends [text] through the healthiest member; not idempotent, so it is never sent twice. */
    public fun sendText(text: String): CompletableFuture<Void?> = sendText(text, false)

    /**
     * Sends [text] through the healthiest member; completes when written. With [idempotent], a frame lost with its
     * connection is sent again through another member.
     */
    public fun sendText(text: String, idempotent: Boolean): CompletableFuture<Void?> =
        answerVoid { pool.send(Frame.Text(text), idempotent) }

    /** Sends [data] as a binary frame through the healthiest member, as [sendText] does. */
    public fun sendBinary(data: ByteArray, idempotent: Boolean): CompletableFuture<Void?> =
        answerVoid { pool.send(Frame.Binary(data.copyOf()), idempotent) }

    /**
     * Sends [text] as a request through the healthiest member whose builder was given a request codec, and
     * completes with the reply's text. The request stays with that member: should its connection end first, the
     * future fails with `ConnectionClosedException`, and the request is never sent again.
     */
    public fun request(text: String): CompletableFuture<String> = request(text, null)

    /** [request] with its own [timeout] instead of the member's. */
    public fun request(text: String, timeout: Duration?): CompletableFuture<String> = answer {
        (pool.request(Frame.Text(text), timeout?.toKotlinDuration()) as? Frame.Text)?.text
            ?: throw IllegalStateException("the reply was not a text frame")
    }

    /**
     * Completes once at least [count] members are connected at the same time; fails with `ClientStoppedException` if
     * the pool stops first.
     */
    public fun awaitConnected(count: Int): CompletableFuture<Void?> {
        require(count in 1..sockets.size) { "count must be in 1..${sockets.size} but was $count" }
        return answerVoid {
            val state = pool.state.first { it.connected >= count || it.stopped }
            if (state.connected < count) throw ClientStoppedException(null)
        }
    }

    /** How many members are connected now. */
    public fun connectedCount(): Int = pool.state.value.connected

    /** Counts so far and each member's health now; cheap, never waits on a connection. */
    public fun stats(): PoolStats = views(pool.metrics())

    /** Stops every member, as [ParleyWebSocket.close] would, and completes when all have stopped. Idempotent. */
    public fun stop(): CompletableFuture<Void?> = answerVoid { pool.stop() }

    /**
     * Stops every member and waits for it, unless called from a member's listener callback, where it only starts the
     * stop (waiting there could never end).
     */
    override fun close() {
        val stopped = stop()
        if (callbacks.none { it.isCurrent }) stopped.join()
    }

    override fun toString(): String = "ParleyWebSocketPool(${sockets.size} members, ${connectedCount()} connected)"

    private fun answerVoid(block: suspend () -> Unit): CompletableFuture<Void?> = answer {
        block()
        null
    }

    private fun <T> answer(block: suspend () -> T): CompletableFuture<T> {
        val future = CallbackFuture<T>(sockets[0].completionExecutor, callbacks[0], callbacks)
        // Unconfined, as a single socket's calls are: from a member's callback the core sees a caller that suspends.
        scope.launch(Dispatchers.Unconfined, CoroutineStart.UNDISPATCHED) {
            val outcome = runCatching { block() }
            outcome.fold({ future.complete(it) }, { future.completeExceptionally(it) })
        }
        return future
    }

    private fun views(metrics: PoolMetrics) = PoolStats(
        metrics.members.map {
            PoolStats.Member(it.index, sockets[it.index].javaState(it.state), it.score ?: -1, it.silent, it.routed)
        },
        metrics.sent,
        metrics.requests,
        metrics.rerouted,
        metrics.failedOver,
        metrics.unavailable,
    )

    public companion object {
        /**
         * Starts a pool of [size] members: [factory] builds each [ParleyWebSocket] (member `i` gets `i`; give each
         * its own builder, with a request codec for [request]), and the pool starts it connecting.
         */
        @JvmStatic
        public fun start(size: Int, factory: IntFunction<ParleyWebSocket>): ParleyWebSocketPool {
            require(size > 0) { "a pool needs at least one member, but size was $size" }
            val sockets = ArrayList<ParleyWebSocket>(size)
            val pool = ParleyPool.start(size, listOf("")) { index, _ ->
                factory.apply(index).also { sockets += it }.poolMember()
            }
            return ParleyWebSocketPool(sockets, pool)
        }
    }
}
