package dev.parley

import dev.parley.internal.BLOCKED_LOOP_RULE
import dev.parley.internal.Caller
import dev.parley.internal.ClientHandle
import dev.parley.internal.LatencyWindow
import dev.parley.internal.caller
import dev.parley.internal.countIf
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import kotlin.time.Duration
import kotlin.time.Duration.Companion.nanoseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toKotlinDuration

/**
 * Requests with replies over one client (ZenWebsocket's correlation): [request] sends a frame and suspends until the
 * reply that carries its id arrives, as [codec] tells them apart. Add it to the options with
 * `layer(requests)`; replies then never reach [ParleyHandler.onFrame].
 *
 * Every request is answered exactly once:
 * - with its reply;
 * - with [RequestTimeoutException] when no reply came within its timeout, measured from the call (queueing and
 *   writing included), so nothing waits shorter or longer than the timeout says;
 * - with [ConnectionClosedException] (`mayHaveBeenWritten = true`) when its connection ended before the reply came.
 *   It is never sent again: a request is not assumed to be idempotent. A request still queued fails as its frame
 *   does, with `mayHaveBeenWritten = false`;
 * - with the send's own failure ([NotConnectedException] while disconnected, [SendQueueFullException] when the send
 *   queue is full: a request never waits for room), [PendingRequestsFullException], or [ClientStoppedException].
 *
 * A reply whose id no request is waiting for (one that timed out, a duplicate, a stray) goes to
 * [ParleyHandler.onInfo] as an [UnmatchedReply], never to onFrame as if it were new. An id already waiting is
 * refused with [DuplicateRequestIdException]. [metrics] has the counts and the latency of answered requests.
 *
 * @param Id the codec's id type.
 * @property timeout the default time a request waits for its reply (default 30 s).
 * @property maxPending the most requests that may wait for replies at once (default 10,000).
 */
public class Requests<Id : Any>(
    private val codec: RequestCodec<Id>,
    public val timeout: Duration = 30.seconds,
    public val maxPending: Int = 10_000,
) : ClientLayer {
    init {
        require(timeout.isPositive()) { "timeout must be positive but was $timeout" }
        require(maxPending > 0) { "maxPending must be positive but was $maxPending" }
    }

    private class Pending<Id : Any>(
        val id: Id,
        val startedNanos: Long,
    ) {
        val reply = CompletableDeferred<Frame>()
        var timer: Job? = null
    }

    private val client = AtomicReference<ClientHandle?>()

    /** Requests waiting for replies; an entry leaves as its request is answered, however that happens. */
    private val pending = ConcurrentHashMap<Id, Pending<Id>>()

    /** Ids of the last [REMEMBERED_TIMEOUTS] requests that timed out, so a late reply is known as late. */
    private val timedOutIds = object : LinkedHashMap<Id, Unit>() {
        override fun removeEldestEntry(eldest: MutableMap.MutableEntry<Id, Unit>?): Boolean = size > REMEMBERED_TIMEOUTS
    }

    /** Runs the timeouts, on the client's dispatcher (so virtual time in tests); cancelled when the client stops. */
    private lateinit var timers: CoroutineScope

    private val latency = LatencyWindow()
    private val answered = AtomicLong()
    private val timedOut = AtomicLong()
    private val failed = AtomicLong()
    private val unmatched = AtomicLong()

    override fun attach(client: ParleyClient) {
        val handle = client as? ClientHandle ?: error("attach is called by the client itself")
        check(this.client.compareAndSet(null, handle)) { "a Requests serves one client; this one already has one" }
        timers = CoroutineScope(SupervisorJob() + handle.shared.dispatcher)
    }

    /**
     * Sends [request] and suspends until its reply, which it returns; see [Requests] for every other outcome.
     *
     * Not from inside the client's own callbacks, where the reply could never be read while the callback waits for it:
     * it fails there at once with IllegalStateException. Use [requestAsync] and return [HandlerAction.Later] instead.
     *
     * @param timeout how long to wait for the reply (default [Requests.timeout]).
     */
    public suspend fun request(request: Frame, timeout: Duration = this.timeout): Frame {
        val handle = attachedClient()
        when (handle.shared.caller()) {
            Caller.CALLBACK -> throw IllegalStateException(REQUEST_IN_CALLBACK_RULE)
            Caller.BLOCKED_LOOP -> throw IllegalStateException(BLOCKED_LOOP_RULE)
            Caller.OUTSIDE -> Unit
        }
        val reply = requestAsync(request, timeout)
        try {
            return reply.await()
        } catch (e: CancellationException) {
            // Our caller was cancelled: give the slot back now rather than at the timeout.
            reply.cancel()
            throw e
        }
    }

    /**
     * Sends [request] at once, without waiting, and returns its reply to come: safe from inside the client's
     * callbacks (hand it to [HandlerAction.Later]). It completes as [request] returns or throws.
     *
     * @throws DuplicateRequestIdException if a request with the same id is waiting.
     * @throws IllegalArgumentException if the codec cannot stamp [request].
     * @throws IllegalStateException if this [Requests] is not in the options of a started client.
     */
    public fun requestAsync(request: Frame, timeout: Duration = this.timeout): Deferred<Frame> {
        require(timeout.isPositive()) { "timeout must be positive but was $timeout" }
        val handle = attachedClient()
        val stamped = codec.stamp(request)
        val entry = Pending(stamped.id, System.nanoTime())
        if (pending.size >= maxPending) {
            val telemetry = handle.shared.telemetry
            telemetry.emitIfObserved(telemetry.requestEvents) { ParleyEvent.PendingRequestsFull(maxPending) }
            fail(entry, PendingRequestsFullException(maxPending))
            return entry.reply
        }
        if (pending.putIfAbsent(entry.id, entry) != null) throw DuplicateRequestIdException(entry.id)
        // However it ends (a reply, a failure, a caller's cancel), the entry leaves and its timer stops.
        entry.reply.invokeOnCompletion {
            pending.remove(entry.id, entry)
            entry.timer?.cancel()
        }
        entry.timer = timers.launch {
            delay(timeout)
            // Remembered and counted before the caller hears of it, so what it reads next already includes it.
            synchronized(timedOutIds) { timedOutIds[entry.id] = Unit }
            if (timedOut.countIf { entry.reply.completeExceptionally(RequestTimeoutException(entry.id, timeout)) }) {
                val telemetry = handle.shared.telemetry
                telemetry.emitIfObserved(telemetry.requestEvents) { ParleyEvent.RequestTimedOut(entry.id, timeout) }
            } else {
                synchronized(timedOutIds) { timedOutIds.remove(entry.id) }
            }
        }
        val sent = try {
            handle.trySend(stamped.frame)
        } catch (e: Exception) {
            // prepareFrame threw: the request is refused, and its caller hears why.
            fail(entry, e)
            throw e
        }
        when (sent) {
            is SendResult.Rejected -> fail(entry, sent.cause)

            is SendResult.Enqueued -> sent.written.invokeOnCompletion { cause ->
                if (cause != null) fail(entry, cause)
            }
        }
        return entry.reply
    }

    /** Counts and latency so far; safe from any thread. */
    public fun metrics(): RequestMetrics = RequestMetrics(
        pending = pending.size,
        answered = answered.get(),
        timedOut = timedOut.get(),
        failed = failed.get(),
        unmatched = unmatched.get(),
        latency = latency.stats(),
    )

    override suspend fun onFrame(frame: Frame): Boolean {
        val id = codec.replyId(frame) ?: return false
        val entry = pending[id]
        if (entry != null && entry.reply.isActive) {
            // Recorded and counted before the caller hears of it, so what it reads next includes its own request.
            // (Only a caller's cancel can come in between, from another thread: then one extra sample is all.)
            latency.record((System.nanoTime() - entry.startedNanos).nanoseconds)
            if (answered.countIf { entry.reply.complete(frame) }) return true
        }
        val late = synchronized(timedOutIds) { timedOutIds.remove(id) != null }
        unmatched.incrementAndGet()
        val handle = attachedClient()
        val telemetry = handle.shared.telemetry
        telemetry.emitIfObserved(telemetry.requestEvents) { ParleyEvent.UnmatchedReplyReceived(id, late) }
        if (late) {
            handle.shared.log.info("a reply to request {} came after its timeout: handed to onInfo", id)
        } else {
            handle.shared.log.warn("a reply for request id {}, which no request is waiting for: handed to onInfo", id)
        }
        if (!handle.tell(UnmatchedReply(id, frame, late))) {
            handle.shared.log.warn("the mailbox is full: the unmatched reply to {} was counted but not handed on", id)
        }
        return true
    }

    override suspend fun onDisconnect(reason: DisconnectReason) {
        // What is still waiting was written on the connection that ended (a queued request failed with its frame,
        // before this is called): its reply cannot come now.
        for (entry in pending.values) fail(entry, ConnectionClosedException(reason, mayHaveBeenWritten = true))
    }

    override fun onStop(reason: StopReason) {
        for (entry in pending.values) fail(entry, ClientStoppedException(reason))
        if (::timers.isInitialized) timers.cancel()
    }

    override fun toString(): String = "Requests(timeout=$timeout, pending=${pending.size})"

    private fun fail(entry: Pending<Id>, cause: Throwable) {
        failed.countIf { entry.reply.completeExceptionally(cause) }
    }

    private fun attachedClient(): ClientHandle = client.get()
        ?: throw IllegalStateException("this Requests is not attached: add it with layer(…) to a client's options")

    public companion object {
        private const val REMEMBERED_TIMEOUTS = 1024

        /** For Java: a [Requests] with [timeout] as the default; see [Requests]. */
        @JvmStatic
        public fun <Id : Any> create(codec: RequestCodec<Id>, timeout: java.time.Duration): Requests<Id> =
            Requests(codec, timeout.toKotlinDuration())
    }
}

/**
 * What a [Requests] has seen so far.
 *
 * @property pending requests waiting for replies now.
 * @property answered requests that got their reply.
 * @property timedOut requests that got no reply in time.
 * @property failed requests that could not be sent, or whose connection or client ended before the reply.
 * @property unmatched replies that no request was waiting for.
 * @property latency from the call to the reply, over answered requests (the last 1,024 to 2,048).
 */
public data class RequestMetrics(
    val pending: Int,
    val answered: Long,
    val timedOut: Long,
    val failed: Long,
    val unmatched: Long,
    val latency: LatencyStats,
)

private const val REQUEST_IN_CALLBACK_RULE =
    "request() called from inside one of the client's own callbacks: the reply can only be read once the callback " +
        "returns, so it would wait for its timeout. Use requestAsync() and return HandlerAction.Later"
