package dev.parley

import dev.parley.internal.PoolSlot
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.launch
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration

/**
 * Several clients to one endpoint, or to a list of them, behind one send API (ZenWebsocket's `ClientSupervisor` and
 * `PoolRouter`): for throughput, and so that one dead connection does not stop the traffic. Start it with [start];
 * [stop] stops every member.
 *
 * ## Routing
 * Each [send] and [request] goes to the healthiest connected member; members equally healthy take turns. A member's
 * score ([MemberHealth.score]) starts at 0 and grows with its send backlog (10 for each tenth of its queue), a
 * heartbeat ping unanswered for longer than the interval or half the pong timeout (100: its server has probably stalled), heartbeat round trips
 * more than twice (20) or four times (40) the best member's, disconnects and failed sends in the last minute (15
 * each, up to 60) and the pressure on its rate limit (up to 50). A member that is not connected is never chosen.
 *
 * ## Failover
 * A frame a member refuses before queueing it (not connected, a full queue, [RateLimitedException]) never reached the
 * wire, so it goes to the next healthiest member ([PoolEvent.Rerouted]). A frame lost after it was queued, with its
 * connection, is sent again through another member only if its caller marked it `idempotent`
 * ([PoolEvent.FailedOver]); otherwise the caller gets the member's exception, since the server may have acted on it.
 * A request is never sent twice: it is pinned to the member it was routed to, and fails with that member's
 * connection. Each member is tried at most once per call; when none is left the last failure is thrown, and when no
 * member was connected at all, [PoolUnavailableException].
 *
 * ## Order
 * Frames sent one after another may go to different members, so the pool does not keep their order. A conversation
 * that needs order takes one member with [pick] and sends through it.
 */
public class ParleyPool private constructor(
    private val slots: List<PoolSlot>,
) {
    /** The members, in the order the factory made them. */
    public val members: List<PoolMember> = slots.map { it.member }

    /** Watches the members' events and states; cancelled by [stop]. */
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default + CoroutineName("parley-pool"))

    private val published = MutableStateFlow(PoolState(members.map { it.client.state.value }))

    /** Every member's state, updated as they change. */
    public val state: StateFlow<PoolState> = published.asStateFlow()

    private val eventFlow =
        MutableSharedFlow<PoolEvent>(
            replay = 1,
            extraBufferCapacity = 1024,
            onBufferOverflow = BufferOverflow.DROP_OLDEST,
        )

    /** What happens in the pool; emitting never waits for a collector (see [PoolEvent]). */
    public val events: Flow<PoolEvent> = eventFlow.asSharedFlow()

    /** Takes turns among equally healthy members. */
    private val turn = AtomicInteger()
    private val sent = AtomicLong()
    private val requestsRouted = AtomicLong()
    private val rerouted = AtomicLong()
    private val failedOver = AtomicLong()
    private val unavailable = AtomicLong()

    /** [PoolEvent.Rerouted] and [PoolEvent.FailedOver] events since the last [PoolEvent.MemberConnected]. */
    private val moveEvents = AtomicInteger()
    private val stopped = AtomicBoolean()

    init {
        for (slot in slots) {
            scope.launch {
                slot.member.client.events.collect { event ->
                    when (event) {
                        is ParleyEvent.Connected -> {
                            moveEvents.set(0)
                            eventFlow.tryEmit(PoolEvent.MemberConnected(slot.index, event.connection))
                        }

                        is ParleyEvent.Disconnected -> {
                            slot.troubled()
                            eventFlow.tryEmit(PoolEvent.MemberDisconnected(slot.index, event.reason))
                        }

                        else -> Unit
                    }
                }
            }
        }
        scope.launch {
            combine(members.map { it.client.state }) { PoolState(it.toList()) }.collect { published.value = it }
        }
    }

    /**
     * Sends [frame] through the healthiest connected member and suspends until it is written, moving it to another
     * member as the class describes.
     *
     * @param idempotent whether the server may safely receive [frame] twice; only then is a frame lost with its
     *   connection sent again through another member.
     * @throws PoolUnavailableException if no member is connected.
     * @throws ParleyException the last member's failure, when every member tried failed or the frame may not move.
     */
    public suspend fun send(frame: Frame, idempotent: Boolean = false) {
        route(needsRequests = false, mayMove = { refusedBeforeQueueing(it) || idempotent }) { slot ->
            slot.member.client.send(frame)
            sent.incrementAndGet()
        }
    }

    /**
     * Sends [request] through the [Requests] layer of the healthiest connected member that has one, and suspends until
     * its reply. The request stays with that member: should its connection end first, the request fails with
     * [ConnectionClosedException], as [Requests.request] does, and is never sent again. Only a refusal before it was
     * sent (not connected, a full queue or pending table, a rate limit) moves it to another member. Not from inside a
     * client's callbacks (see [Requests.request]).
     *
     * @param timeout how long to wait for the reply; `null` for the member's [Requests.timeout].
     * @throws IllegalStateException if no member has a [Requests] layer.
     */
    public suspend fun request(request: Frame, timeout: Duration? = null): Frame {
        check(members.any { it.requests != null }) {
            "no member of this pool has a Requests layer: give each PoolMember the Requests in its client's options"
        }
        requestsRouted.incrementAndGet()
        return route(needsRequests = true, mayMove = {
            refusedBeforeQueueing(it) || it is PendingRequestsFullException
        }) {
            val layer = it.member.requests!!
            if (timeout == null) layer.request(request) else layer.request(request, timeout)
        }
    }

    /**
     * The healthiest connected member's client, for a conversation whose frames must keep their order.
     *
     * @throws PoolUnavailableException if no member is connected.
     */
    public fun pick(): ParleyClient = (choose(BooleanArray(slots.size), needsRequests = false) ?: throw unavailable())
        .also { it.routed.incrementAndGet() }
        .member.client

    /** Counts so far and each member's health now; safe from any thread. */
    public fun metrics(): PoolMetrics = PoolMetrics(
        members = health(),
        sent = sent.get(),
        requests = requestsRouted.get(),
        rerouted = rerouted.get(),
        failedOver = failedOver.get(),
        unavailable = unavailable.get(),
    )

    /**
     * Stops every member, as [ParleyClient.stop] does, and suspends until all have stopped; then the pool's state says
     * stopped and [PoolEvent.Stopped] is emitted. Idempotent.
     */
    public suspend fun stop() {
        coroutineScope { for (member in members) launch { member.client.stop() } }
        if (stopped.compareAndSet(false, true)) {
            scope.cancel()
            published.value = PoolState(members.map { it.client.state.value })
            eventFlow.tryEmit(PoolEvent.Stopped)
        }
    }

    override fun toString(): String = "ParleyPool(${members.size} members, ${published.value.connected} connected)"

    /**
     * Runs [attempt] on the healthiest member not tried yet until one succeeds. A failure that [mayMove] allows moves
     * on to the next member; any other failure, or the last member's, goes to the caller.
     */
    private suspend inline fun <T> route(
        needsRequests: Boolean,
        mayMove: (ParleyException) -> Boolean,
        attempt: (PoolSlot) -> T,
    ): T {
        val tried = BooleanArray(slots.size)
        var failed: PoolSlot? = null
        var failure: ParleyException? = null
        while (true) {
            val slot = choose(tried, needsRequests) ?: throw failure ?: unavailable()
            tried[slot.index] = true
            if (failed != null && failure != null) moved(failed.index, slot.index, failure)
            try {
                val result = attempt(slot)
                slot.routed.incrementAndGet()
                return result
            } catch (e: ParleyException) {
                slot.troubled()
                if (!mayMove(e)) throw e
                failed = slot
                failure = e
            }
        }
    }

    private fun moved(from: Int, to: Int, cause: ParleyException) {
        val event = if (refusedBeforeQueueing(cause) || cause is PendingRequestsFullException) {
            rerouted.incrementAndGet()
            PoolEvent.Rerouted(from, to, cause)
        } else {
            failedOver.incrementAndGet()
            PoolEvent.FailedOver(from, to, cause)
        }
        if (moveEvents.incrementAndGet() <= MOVE_EVENTS_PER_CONNECTION) eventFlow.tryEmit(event)
    }

    /** The healthiest connected member not yet [tried]; equally healthy ones take turns. */
    private fun choose(tried: BooleanArray, needsRequests: Boolean): PoolSlot? {
        var bestScore = Int.MAX_VALUE
        val ties = ArrayList<PoolSlot>(slots.size)
        for (health in health()) {
            val slot = slots[health.index]
            if (tried[slot.index] || (needsRequests && slot.member.requests == null)) continue
            val score = health.score ?: continue
            if (score < bestScore) {
                bestScore = score
                ties.clear()
            }
            if (score == bestScore) ties += slot
        }
        if (ties.isEmpty()) return null
        return ties[Math.floorMod(turn.getAndIncrement(), ties.size)]
    }

    private fun health(): List<MemberHealth> {
        val metrics = members.map { it.client.metrics() }
        val bestRoundTrip = metrics.filter {
            it.state is ConnectionState.Connected
        }.mapNotNull { it.latency.p99 }.minOrNull()
        return slots.mapIndexed { i, slot -> slot.health(metrics[i], bestRoundTrip) }
    }

    private fun unavailable(): PoolUnavailableException {
        unavailable.incrementAndGet()
        return PoolUnavailableException(members.map { it.client.state.value })
    }

    public companion object {
        private const val MOVE_EVENTS_PER_CONNECTION = 256

        /**
         * Starts a pool of [size] members: [factory] is called for each, in order, with the [endpoints] taken in turn
         * (member `i` gets `endpoints[i % endpoints.size]`). Should the factory throw, the members made so far are
         * stopped and the exception is rethrown.
         */
        @JvmStatic
        public fun start(size: Int, endpoints: List<String>, factory: PoolMemberFactory): ParleyPool {
            require(size > 0) { "a pool needs at least one member, but size was $size" }
            require(endpoints.isNotEmpty()) { "a pool needs at least one endpoint" }
            val made = ArrayList<PoolMember>(size)
            try {
                for (index in 0 until size) made += factory.create(index, endpoints[index % endpoints.size])
            } catch (e: Throwable) {
                // Stopped in the background: start does not suspend, and may be called from a client's callback.
                CoroutineScope(Dispatchers.Default).launch { for (member in made) member.client.stop() }
                throw e
            }
            return ParleyPool(made.mapIndexed { index, member -> PoolSlot(index, member) })
        }

        /** A frame refused before it was queued never reached the wire, so any frame may go elsewhere. */
        private fun refusedBeforeQueueing(e: ParleyException): Boolean =
            e is NotConnectedException || e is SendQueueFullException || e is RateLimitedException
    }
}

/**
 * No member of the pool was connected, so the frame or request was not sent (or the pool is stopped).
 *
 * @property states each member's state when the pool looked, in member order.
 */
public class PoolUnavailableException(
    public val states: List<ConnectionState>,
) : ParleyException(
    "none of the pool's ${states.size} members is connected: the frame was not sent (" +
        states.joinToString { it::class.simpleName ?: "?" } + ")",
)
